"""Exemplar photometric augmentation split into draws (worker) and pixels
(device): the draws are the CPU transforms' draws, the pixels theirs.

Measured on 64 x 64 crops of scikit-image's astronaut, chelsea and coffee
photos; the differences are printed (``pytest -s``).
"""
import random
import time

import numpy as np
import pytest
import skimage.data
import torch

from cim_mm.datasets.transforms import (DEFAULT_EXEMPLAR_TRANSFORMS,
                                        CorrelationalCrop)
from cim_mm.datasets.transforms import photometric_params as pp
from cim_mm.datasets.transforms.photometric_params import \
    PhotometricParamRecorder
from cim_mm.models.utils.photometric_ops import apply_photometric

SIZE = 64

# tiny tensor operations: torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def crops():
    """1000 BGR 64 x 64 crops of three real photos, (1000, 64, 64, 3)."""
    photos = [
        np.ascontiguousarray(f()[..., ::-1])
        for f in (skimage.data.astronaut, skimage.data.chelsea,
                  skimage.data.coffee)
    ]
    rng = np.random.default_rng(0)
    out = []
    for i in range(1000):
        photo = photos[i % 3]
        y = rng.integers(0, photo.shape[0] - SIZE + 1)
        x = rng.integers(0, photo.shape[1] - SIZE + 1)
        out.append(photo[y:y + SIZE, x:x + SIZE])
    return np.stack(out)


def pipeline(transforms):
    """The exemplar ``Compose`` that ``CorrelationalCrop`` builds."""
    return CorrelationalCrop(exemplar_transforms=transforms).exemplar_pipeline


def seed(value):
    np.random.seed(value)
    random.seed(value)


def run_cpu(transforms, images, seed_value=0):
    """The CPU transforms on each image in turn: (N, H, W, 3) uint8."""
    seed(seed_value)
    return np.stack(
        [transforms({'img': img.copy()})['img'] for img in images])


def run_device(transforms, images, seed_value=0, device='cpu'):
    """Draw in turn, then one batched ``apply_photometric``."""
    seed(seed_value)
    params = PhotometricParamRecorder(transforms).draw(len(images))
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).to(device)
    out = apply_photometric(batch, torch.from_numpy(params).to(device))
    return out.permute(0, 2, 3, 1).cpu().numpy()


def abs_diff(a, b):
    return np.abs(a.astype(int) - b.astype(int))


def jitter(**kwargs):
    return dict(
        type='RandomApply',
        transforms=[dict(type='FastColorJitter', **kwargs)],
        prob=1.)


GRAY = dict(
    type='RandomGrayscale',
    prob=1.,
    keep_channels=True,
    channel_weights=(0.114, 0.587, 0.299))

# A second supported pipeline: a bare jitter (no RandomApply) with two
# adjustments off, PIL-backed blur, random solarize thresholds (normal
# magnitudes).
VARIANT = [
    dict(type='FastColorJitter', brightness=0.4, hue=0.1),
    dict(type='RandomGrayscale', prob=0.5, keep_channels=True,
         channel_weights=(1., 1., 1.)),
    dict(type='GaussianBlur', magnitude_range=(0., 2.), magnitude_std='inf',
         prob=0.7),
    dict(type='Solarize', thr=None, magnitude_range=(0., 256.),
         magnitude_std=3., prob=0.5),
]


def spy(transform, name, log, key):
    """Record what ``transform.<name>()`` returns into ``log[-1][key]``."""
    method = getattr(transform, name)

    def wrapper(*args):
        log[-1][key] = method(*args)
        return log[-1][key]

    setattr(transform, name, wrapper)


def expected_params(draws, transforms):
    """The layout of ``photometric_params``, rebuilt from spied draws."""
    params = np.zeros(pp.PHOTOMETRIC_PARAM_DIM, np.float32)
    params[pp.ORDER] = range(4)
    params[[pp.BRIGHTNESS, pp.CONTRAST, pp.SATURATION, pp.HUE]] = np.nan
    if draws.get('apply', True) and 'jitter' in draws:
        order, *factors, hue = draws['jitter']
        params[pp.JITTER] = 1
        params[pp.ORDER] = order
        for index, factor in enumerate(factors):
            if factor is not None:
                params[pp.BRIGHTNESS + index] = factor
                params[pp.FACTOR_RESIDS.start + index] = factor - np.float64(
                    np.float32(factor))
        params[pp.HUE] = np.nan if hue is None else int(hue * 255) % 256
    for transform in transforms:
        if hasattr(transform, 'channel_weights'):  # the grayscale
            weights = np.array(transform.channel_weights) / sum(
                transform.channel_weights)
            parts = [pp.split_float64(w) for w in weights]
            params[pp.GRAY_WEIGHTS] = np.stack(parts, 1).ravel()
            params[pp.GRAY] = draws['gray'] < transform.prob
        elif hasattr(transform, 'radius'):  # the blur
            sigma = draws.get('blur_sigma', transform.radius)
            if not draws['blur_off'] and sigma > 0:  # skips sigma 0
                params[pp.BLUR_SIGMA] = sigma
                params[pp.BLUR_KSIZE] = int(round(6 * sigma + 1)) | 1
        elif hasattr(transform, 'thr') and not draws['solarize_off']:
            thr = draws.get('thr', transform.thr)
            params[pp.SOLARIZE] = 1
            params[pp.SOLARIZE_THR] = np.clip(np.ceil(thr), 0, 256)
    return params


@pytest.mark.parametrize('transforms', [DEFAULT_EXEMPLAR_TRANSFORMS, VARIANT],
                         ids=['default', 'variant'])
def test_recorder_draws_what_the_cpu_transforms_draw(crops, transforms):
    cpu, log = pipeline(transforms), []
    for transform in cpu.transforms:
        kind = type(transform).__name__
        if kind == 'RandomApply':
            spy(transform, 'random_apply', log, 'apply')
            spy(transform.transforms.transforms[0], '_rand_params', log,
                'jitter')
        elif kind == 'FastColorJitter':
            spy(transform, '_rand_params', log, 'jitter')
        elif kind == 'RandomGrayscale':
            spy(transform, '_random_prob', log, 'gray')
        elif kind in ('FastGaussianBlur', 'GaussianBlur'):
            spy(transform, 'random_disable', log, 'blur_off')
            spy(transform, 'random_magnitude', log, 'blur_sigma')
        else:
            spy(transform, 'random_disable', log, 'solarize_off')
            spy(transform, 'random_magnitude', log, 'thr')
    seed(1)
    for img in crops[:200]:
        log.append({})
        cpu({'img': img.copy()})
    cpu_states = np.random.get_state()[1], random.getstate()

    seed(1)
    drawn = PhotometricParamRecorder(pipeline(transforms)).draw(200)
    # Same RNG calls: both generators end in the same state...
    np.testing.assert_array_equal(np.random.get_state()[1], cpu_states[0])
    assert random.getstate() == cpu_states[1]
    # ... and the recorded values are the ones the transforms used.
    expected = np.stack([expected_params(d, cpu.transforms) for d in log])
    np.testing.assert_array_equal(drawn, expected)
    assert drawn.dtype == np.float32 and drawn.shape == (200, 26)
    # Every branch was taken.
    assert 0 < drawn[:, pp.JITTER].sum()
    for index in (pp.GRAY, pp.SOLARIZE):
        assert 0 < drawn[:, index].sum() < 200
    assert 0 < (drawn[:, pp.BLUR_SIGMA] > 0).sum() < 200


@pytest.mark.parametrize('name, transforms, mean_tol, max_tol', [
    ('brightness 0.6', [jitter(brightness=(0.6, 0.6))], 2, 2),
    ('brightness 1.4', [jitter(brightness=(1.4, 1.4))], 2, 2),
    ('contrast 0.6', [jitter(contrast=(0.6, 0.6))], 2, 2),
    ('contrast 1.4', [jitter(contrast=(1.4, 1.4))], 2, 2),
    ('saturation 0.8', [jitter(saturation=(0.8, 0.8))], 2, 2),
    ('saturation 1.2', [jitter(saturation=(1.2, 1.2))], 2, 2),
    ('hue -0.1', [jitter(hue=(-0.1, -0.1))], 2, 2),
    ('hue 0.07', [jitter(hue=(0.07, 0.07))], 2, 2),
    ('hue 0.5', [jitter(hue=(0.5, 0.5))], 2, 2),
    ('grayscale', [GRAY], 2, 2),
    ('blur 0.3', [dict(type='FastGaussianBlur', radius=0.3, prob=1.)], 1,
     255),
    ('blur 0.6', [dict(type='FastGaussianBlur', radius=0.6, prob=1.)], 1,
     255),
    ('blur 1.2', [dict(type='FastGaussianBlur', radius=1.2, prob=1.)], 1,
     255),
    ('blur 2.0', [dict(type='FastGaussianBlur', radius=2.0, prob=1.)], 1,
     255),
    ('solarize 128', [dict(type='Solarize', thr=128, prob=1.)], 2, 2),
    ('solarize 64.5', [dict(type='Solarize', thr=64.5, prob=1.)], 2, 2),
])
def test_each_operation_matches_the_cpu_transform(crops, name, transforms,
                                                  mean_tol, max_tol):
    exemplars = pipeline(transforms)
    cpu = run_cpu(exemplars, crops[:100])
    device = run_device(exemplars, crops[:100])
    diff = abs_diff(cpu, device)
    print(f'\n{name}: mean |diff| {diff.mean():.5f}, max {diff.max()}, '
          f'values differing {(diff > 0).mean():.5f}')
    assert (cpu != crops[:100]).any()  # the operation did something
    assert diff.mean() <= mean_tol and diff.max() <= max_tol


@pytest.mark.parametrize('hue', [-0.5, -0.03, 0.1, 0.41])
def test_hue_on_all_kinds_of_colours(hue):
    # 2**16 random colours (saturated, dark, grey...) beyond photo colours.
    colours = np.random.default_rng(1).integers(
        0, 256, (256, 256, 3), dtype=np.uint8)
    cpu = run_cpu(pipeline([jitter(hue=(hue, hue))]), colours[None])
    device = run_device(pipeline([jitter(hue=(hue, hue))]), colours[None])
    diff = abs_diff(cpu, device)
    print(f'\nhue {hue}, 65536 colours: {(diff > 0).any(-1).sum()} differ, '
          f'max {diff.max()}')
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_default_pipeline_with_the_same_seeds(crops):
    exemplars = pipeline(DEFAULT_EXEMPLAR_TRANSFORMS)
    run_device(exemplars, crops[:100], seed_value=3)  # warm-up
    start = time.perf_counter()
    cpu = run_cpu(exemplars, crops[:100], seed_value=3)
    cpu_time = time.perf_counter() - start
    start = time.perf_counter()
    device = run_device(exemplars, crops[:100], seed_value=3)
    device_time = time.perf_counter() - start
    diff = abs_diff(cpu, device)
    per_exemplar = diff.mean((1, 2, 3))
    print(f'\ndefault pipeline, 100 exemplars: mean |diff| {diff.mean():.5f}'
          f', worst exemplar {per_exemplar.max():.5f}, max {diff.max()}, '
          f'values differing {(diff > 0).mean():.5f}; CPU transforms '
          f'{cpu_time * 1e3:.1f} ms, draws + apply_photometric '
          f'{device_time * 1e3:.1f} ms')
    assert per_exemplar.max() <= 2


@pytest.mark.slow
@pytest.mark.parametrize('name, transforms', [
    ('jitter', DEFAULT_EXEMPLAR_TRANSFORMS[:1]),
    ('grayscale', DEFAULT_EXEMPLAR_TRANSFORMS[1:2]),
    ('blur', DEFAULT_EXEMPLAR_TRANSFORMS[2:3]),
    ('solarize', DEFAULT_EXEMPLAR_TRANSFORMS[3:]),
    ('all', DEFAULT_EXEMPLAR_TRANSFORMS),
])
def test_output_statistics_over_1000_draws(crops, name, transforms):
    # The acceptance criterion: per operation, the mean and std of
    # the outputs within 2% of the CPU path's (same seeds).
    exemplars = pipeline(transforms)
    cpu = run_cpu(exemplars, crops, seed_value=5).astype(np.float64)
    device = run_device(exemplars, crops, seed_value=5).astype(np.float64)
    mean_err = abs(device.mean() / cpu.mean() - 1)
    std_err = abs(device.std() / cpu.std() - 1)
    print(f'\n{name}, 1000 exemplars: mean {cpu.mean():.4f} vs '
          f'{device.mean():.4f} ({mean_err:.4%}), std {cpu.std():.4f} vs '
          f'{device.std():.4f} ({std_err:.4%})')
    assert mean_err <= 0.02 and std_err <= 0.02


@pytest.mark.parametrize('transforms', [
    [dict(type='RandomFlip', prob=0.5)],
    [dict(type='Posterize', bits=4, prob=0.5)],
    [dict(type='RandomApply', transforms=[dict(type='Solarize', thr=128)])],
    [dict(type='RandomApply', transforms=[jitter(hue=0.1)])],
    [dict(type='RandomApply',
          transforms=[dict(type='FastColorJitter', hue=0.1),
                      dict(type='FastColorJitter', hue=0.1)])],
    [dict(type='Solarize', thr=128),
     dict(type='FastGaussianBlur', radius=1.)],
    [GRAY, GRAY],
    [dict(GRAY, keep_channels=False)],
    [dict(type='ColorJitter', hue=0.1, backend='cv2')],
    [lambda results: results],
], ids=['flip', 'posterize', 'wrapped solarize', 'nested wrapper',
        'two jitters', 'order', 'twice', 'one channel', 'cv2 backend',
        'callable'])
def test_unsupported_transforms_are_refused(transforms):
    exemplars = pipeline(transforms)
    with pytest.raises(ValueError, match='Supported: RandomApply'):
        PhotometricParamRecorder(exemplars)


def test_empty_pipeline_draws_nothing_and_changes_nothing(crops):
    seed(0)
    state = np.random.get_state()[1], random.getstate()
    params = PhotometricParamRecorder(pipeline([])).draw(10)
    np.testing.assert_array_equal(np.random.get_state()[1], state[0])
    assert random.getstate() == state[1]
    assert params.shape == (10, 26)
    images = torch.from_numpy(crops[:10]).permute(0, 3, 1, 2)
    out = apply_photometric(images, torch.from_numpy(params))
    assert out.dtype == torch.uint8 and torch.equal(out, images)
    empty = apply_photometric(images[:0], torch.from_numpy(params[:0]))
    assert empty.shape == (0, 3, SIZE, SIZE)


def test_apply_photometric_checks_its_inputs(crops):
    images = torch.from_numpy(crops[:2]).permute(0, 3, 1, 2)
    params = torch.zeros(2, 26)
    with pytest.raises(ValueError, match='uint8'):
        apply_photometric(images.float(), params)
    with pytest.raises(ValueError, match='params'):
        apply_photometric(images, params[:1])


def test_non_square_exemplars(crops):
    # Rows and columns get their own blur matrices.
    exemplars = pipeline(DEFAULT_EXEMPLAR_TRANSFORMS)
    images = np.ascontiguousarray(crops[:50, :, :48])
    diff = abs_diff(
        run_cpu(exemplars, images), run_device(exemplars, images))
    assert diff.mean((1, 2, 3)).max() <= 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(crops):
    exemplars = pipeline(DEFAULT_EXEMPLAR_TRANSFORMS)
    cpu = run_device(exemplars, crops[:200], seed_value=7)
    cuda = run_device(exemplars, crops[:200], seed_value=7, device='cuda')
    diff = abs_diff(cpu, cuda)
    print(f'\nCUDA vs CPU: mean |diff| {diff.mean():.6f}, max {diff.max()}')
    assert diff.max() <= 1 and diff.mean() < 0.01


def test_lookup_tables_built_on_the_device_are_the_reference_tuples():
    from cim_mm.models.utils import photometric_ops as ops
    cpu = torch.device('cpu')
    for values, table in (
            (ops._SDIV, ops._division_table(255 << ops._HSV_SHIFT, 1, cpu)),
            (ops._HDIV, ops._division_table(256 << ops._HSV_SHIFT, 6, cpu)),
            (ops._SECTORS, ops._sector_table(cpu))):
        assert table.dtype == torch.int32
        assert table.tolist() == list(values)


def test_each_sample_is_augmented_as_if_alone(crops):
    """Every operation runs on the whole batch and is kept per sample with
    torch.where: a sample's result does not depend on its neighbours (the
    neutral parameters of the others leak nothing)."""
    exemplars = pipeline(DEFAULT_EXEMPLAR_TRANSFORMS)
    images = torch.from_numpy(crops[:24]).permute(0, 3, 1, 2).contiguous()
    seed(5)
    params = torch.from_numpy(
        PhotometricParamRecorder(exemplars).draw(len(images)))
    batched = apply_photometric(images, params)
    for i in range(len(images)):
        alone = apply_photometric(images[i:i + 1], params[i:i + 1])
        assert torch.equal(batched[i:i + 1], alone), i
    # and the draws exercise every operation somewhere in the batch
    assert (params[:, pp.JITTER] > 0).any() and (params[:, pp.GRAY] > 0).any()
    assert (params[:, pp.BLUR_SIGMA] > 0).any()
