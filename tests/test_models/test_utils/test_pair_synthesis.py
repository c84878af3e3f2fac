"""Pairs built on the device (CorrelationalPairParams + CIMDataPreprocessor)
against the CPU transform (CorrelationalCrop): the same draws, the same
maps, the same pixels up to resampling."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import MODELS, TRANSFORMS

import cim_mm  # noqa: F401
from cim_mm.datasets.transforms import CorrelationalCrop
from cim_mm.models.utils.pair_synthesis import (resize_context,
                                                sample_exemplars,
                                                synthesise_pairs)

M, N, K, S = 160, 64, 6, 224
PREPROCESSOR = dict(type='CIMDataPreprocessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    to_rgb=True)


def device_batch(samples):
    """Pack, collate and preprocess (on CPU here) like the training loop."""
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    return MODELS.build(PREPROCESSOR)(batch, training=True)


@pytest.mark.parametrize(
    'settings',
    [
        dict(),  # the release's augmentation and flips
        dict(exemplar_transforms=[],
             exemplar_flip_prob=0.0,
             rotation_range=(-180, 180),
             exemplar_region='exact'),
    ])
def test_same_seeds_same_geometry_flips_and_maps_as_the_cpu_path(
        settings, draw):
    cpu = draw(dict(type='CorrelationalCrop', **settings), 20)
    dev = draw(
        dict(type='CorrelationalPairParams', pixels='device', **settings), 20)
    for a, b in zip(cpu, dev):
        assert np.array_equal(a['exemplar_corners'], b['exemplar_corners'])
        assert np.array_equal(a['exemplar_flipped'], b['exemplar_flipped'])
        assert b['search'].shape == (S, S, 3) and b['search'].dtype == np.uint8
        assert b['exemplar_photometric'].shape[0] == K
    built = device_batch(dev)
    maps = torch.stack([s.corr_maps for s in built['data_samples']])
    assert torch.equal(
        maps, torch.from_numpy(np.stack([s['corr_maps'] for s in cpu])))


def test_outputs_have_the_cpu_paths_shapes_and_types(draw):
    built = device_batch(
        draw(dict(type='CorrelationalPairParams', pixels='device'), 4))
    context, *exemplars = built['inputs']
    assert context.shape == (4, 3, M, M) and context.dtype == torch.float32
    assert len(exemplars) == K
    assert all(e.shape == (4, 3, N, N) for e in exemplars)
    sample = built['data_samples'][0]
    assert sample.corr_maps.shape == (K, M, M)
    assert sample.corr_maps.dtype == torch.uint8


def cpu_pixels(search, corners):
    """The CPU path's context and exemplars from the same search image and
    corners (no augmentation): CorrelationalCrop's own resampling."""
    crop = CorrelationalCrop(exemplar_transforms=[])
    context = cv2.resize(search, (M, M), interpolation=cv2.INTER_AREA)
    src_from_context = np.diag([S / M, S / M, 1.0])
    exemplars = np.stack([
        crop._exemplar(search, src_from_context, c.astype(np.float64))
        for c in corners
    ])
    return context, exemplars


def test_pixels_match_the_cpu_resampling_of_the_same_search_image(draw):
    samples = draw(
        dict(type='CorrelationalPairParams',
             pixels='device',
             exemplar_transforms=[],
             exemplar_flip_prob=0.0), 30)
    context_diffs, exemplar_diffs = [], []
    for sample in samples:
        search = torch.from_numpy(sample['search']).permute(2, 0, 1)[None]
        corners = torch.from_numpy(sample['exemplar_corners'])[None]
        context = resize_context(search.float(), M)[0].permute(1, 2, 0)
        exemplars = sample_exemplars(search.float(), corners, M, N)[0]
        ref_context, ref_exemplars = cpu_pixels(sample['search'],
                                                sample['exemplar_corners'])
        context_diffs.append(
            np.abs(context.numpy() - ref_context.astype(np.float32)).mean())
        exemplar_diffs.append(
            np.abs(
                exemplars.permute(0, 2, 3, 1).numpy() -
                ref_exemplars.astype(np.float32)).mean())
    # Mean absolute difference in grey levels (0-255), over 30 samples.
    assert np.mean(context_diffs) <= 2, np.mean(context_diffs)
    assert np.mean(exemplar_diffs) <= 2, np.mean(exemplar_diffs)
    assert max(exemplar_diffs) <= 4, max(exemplar_diffs)


def test_flip_mirrors_the_exemplar_and_not_the_map(draw):
    settings = dict(type='CorrelationalPairParams',
                    pixels='device',
                    exemplar_transforms=[])
    flipped = draw(dict(settings, exemplar_flip_prob=1.0), 2)
    plain = draw(dict(settings, exemplar_flip_prob=0.0), 2)
    a, b = device_batch(flipped), device_batch(plain)
    for ex_a, ex_b in zip(a['inputs'][1:], b['inputs'][1:]):
        assert torch.equal(ex_a, ex_b.flip(-1))
    for s_a, s_b in zip(a['data_samples'], b['data_samples']):
        assert torch.equal(s_a.corr_maps, s_b.corr_maps)


def test_training_step_on_device_pairs_reaches_the_backbone(
        tiny_cim_cfg, draw):
    model = MODELS.build(tiny_cim_cfg(data_preprocessor=PREPROCESSOR))
    model.init_weights()
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([
        pack(dict(s))
        for s in draw(dict(type='CorrelationalPairParams', pixels='device'), 2)
    ])
    data = model.data_preprocessor(batch, training=True)
    loss = model(**data, mode='loss')['loss']
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_device_path_needs_no_particular_meta_keys(draw):
    pack = TRANSFORMS.build(dict(type='PackCIMInputs', meta_keys=()))
    samples = draw(dict(type='CorrelationalPairParams', pixels='device'), 2)
    batch = default_collate([pack(dict(s)) for s in samples])
    built = MODELS.build(PREPROCESSOR)(batch, training=True)
    assert built['inputs'][0].shape == (2, 3, M, M)
    assert built['inputs'][1].shape == (2, 3, N, N)


def test_pair_parameters_travel_as_batch_tensors_and_come_back_per_sample(
        draw):
    """Search samples pack their parameters beside the data sample, so the
    collate function stacks each into one tensor (one copy to the device);
    the preprocessor gives every sample its rows back."""
    dev = draw(dict(type='CorrelationalPairParams', pixels='device'), 3)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    packed = pack(dict(dev[0]))
    assert set(packed['pair_params']) == {
        'exemplar_corners', 'exemplar_flipped', 'exemplar_photometric'}
    assert 'exemplar_corners' not in packed['data_samples']
    batch = default_collate([pack(dict(s)) for s in dev])
    params = batch['pair_params']
    assert params['exemplar_corners'].shape == (3, K, 4, 2)
    assert params['exemplar_flipped'].shape == (3, K)
    built = MODELS.build(PREPROCESSOR)(batch, training=True)
    for i, sample in enumerate(built['data_samples']):
        for key, value in params.items():  # (NaN: a factor not drawn)
            torch.testing.assert_close(sample.get(key), value[i], rtol=0,
                                       atol=0, equal_nan=True)
        assert torch.equal(sample.exemplar_corners,
                           torch.from_numpy(dev[i]['exemplar_corners']))


@pytest.mark.parametrize('transform', [
    dict(type='CorrelationalPairParams', pixels='device'),
    dict(type='DrawCorrelationalPair', context_augmentation={})
])
def test_synthesise_pairs_gives_each_sample_the_same_pair_in_any_batch(
        transform, draw):
    """A sample's context, exemplars and maps do not depend on the samples
    it is batched with: the same function may build a whole batch (the
    preprocessor) or a worker's part of it."""
    samples = draw(transform, 4)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    params = batch['pair_params']

    def build(rows):
        return synthesise_pairs(
            batch['inputs'][0][rows], params['exemplar_corners'][rows], M, N,
            **{arg: params[key][rows] for arg, key in (
                ('exemplar_augmentation', 'exemplar_augmentation'),
                ('context_augmentation', 'context_augmentation'),
                ('photometric', 'exemplar_photometric')) if key in params},
            flipped=params['exemplar_flipped'][rows])

    whole = build(slice(0, 4))
    halves = [build(slice(0, 2)), build(slice(2, 4))]
    assert [tuple(x.shape) for x in whole] == [(4, 3, M, M),
                                               (4, K, 3, N, N),
                                               (4, K, M, M)]
    assert whole[2].dtype == torch.uint8
    for part, parts in zip(whole, zip(*halves)):
        assert torch.equal(part, torch.cat(parts))


# The batched synthesis with torchvision's definitions (DrawCorrelationalPair).


def torchvision_recipe(rgb: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """One exemplar's augmentation by torchvision's own functions, on the
    [0, 1] float image, in the release's order; back to [0, 255]."""
    import torchvision.transforms.v2.functional as tvf
    from cim_mm.datasets.transforms import exemplar_photometric_params as pp
    x = rgb / 255
    if p[pp.JITTER]:
        ops = (tvf.adjust_brightness, tvf.adjust_contrast,
               tvf.adjust_saturation, tvf.adjust_hue)
        for op in p[pp.ORDER].long().tolist():
            x = ops[op](x, p[pp.BRIGHTNESS + op].item())
    if p[pp.GRAY]:
        x = tvf.rgb_to_grayscale(x, num_output_channels=3)
    if p[pp.BLUR]:
        sigma = p[pp.BLUR_SIGMA].item()
        x = tvf.gaussian_blur(x, [13, 13], [sigma, sigma])
    if p[pp.SOLARIZE]:
        x = tvf.solarize(x, 128 / 255)
    if p[pp.FLIP]:
        x = tvf.horizontal_flip(x)
    return x * 255


def test_batched_exemplars_are_torchvision_on_the_resampled_crops(draw):
    """Each exemplar of a batch is torchvision's recipe, with its drawn
    parameters, applied to its RGB crop (channel order, operation order,
    flip after the augmentation), rounded once."""
    samples = draw(dict(type='DrawCorrelationalPair'), 8)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    params = batch['pair_params']
    search = batch['inputs'][0]
    _, exemplars, maps = synthesise_pairs(
        search, params['exemplar_corners'], M, N,
        exemplar_augmentation=params['exemplar_augmentation'])
    _, crops, plain_maps = synthesise_pairs(search, params['exemplar_corners'],
                                            M, N)
    assert torch.equal(maps, plain_maps)
    drawn = params['exemplar_augmentation'].flatten(0, 1)
    exemplars, crops = exemplars.flatten(0, 1), crops.flatten(0, 1)
    assert exemplars.shape == (8 * K, 3, N, N)
    assert torch.equal(exemplars, exemplars.round().clamp(0, 255))
    changed = 0
    for i in range(len(drawn)):
        ref = torchvision_recipe(crops[i].flip(0), drawn[i]).round().flip(0)
        diff = (exemplars[i] - ref).abs()
        # float32 rounding of the same arithmetic: a value within a unit
        # in the last place of .5 may round the other way.
        assert diff.max() <= 1, (i, drawn[i], diff.max())
        assert (diff > 0).float().mean() < 0.01
        changed += not torch.equal(exemplars[i], crops[i])
    assert changed > len(drawn) // 2  # the release's recipe changes most


def test_context_augmentation_changes_the_context_only(draw):
    samples = draw(dict(type='DrawCorrelationalPair', exemplar_augmentation=None,
                        context_augmentation=dict(jitter_prob=1.,
                                                  gray_prob=0.)), 4)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    params = batch['pair_params']
    args = (batch['inputs'][0], params['exemplar_corners'], M, N)
    context, exemplars, maps = synthesise_pairs(
        *args, exemplar_augmentation=params['exemplar_augmentation'],
        context_augmentation=params['context_augmentation'])
    plain_context, plain_exemplars, plain_maps = synthesise_pairs(*args)
    assert torch.equal(maps, plain_maps)
    flips = params['exemplar_flipped'][..., None, None, None]
    assert torch.equal(exemplars, torch.where(flips, plain_exemplars.flip(-1),
                                              plain_exemplars))
    for i in range(4):
        ref = torchvision_recipe(plain_context[i].flip(0),
                                 params['context_augmentation'][i])
        assert (context[i] - ref.round().flip(0)).abs().max() <= 1
        assert (context[i] - plain_context[i]).abs().max() > 5
