"""The batched exemplar photometric operations equal torchvision's
``transforms.v2.functional`` on float images in [0, 1], times 255.

Tolerance: ``ATOL`` grey levels (of 255). The operations compute the same
formulas in float32 on [0, 255] instead of [0, 1], so the results differ
by float32 rounding only: a few units in the last place of 255 (~1.5e-5)
per multiply-add; the HSV round trip of the hue shift (divisions, floor and
remainders of the hue, and a closed form for the way back) and the 13 x 13
blur (two 1-D passes against one 2-D kernel) accumulate more: measured up
to ~3.5e-4 per operation on these images and ~5.3e-4 through the whole
recipe (800 exemplars with drawn parameters).
"""
import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as nnf
import torchvision.transforms.v2.functional as tvf

from cim_mm.datasets.transforms import exemplar_photometric_params as pp
from cim_mm.models.utils import exemplar_photometric as ep
from cim_mm.utils.device_traffic import DeviceTrafficCounter, fake_cuda

ATOL = 1e-3
SIZE = 64


# Small images gain nothing from intra-op threads on a busy machine.
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _photo(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, SIZE, SIZE) integer-valued float in [0, 255]
    (resized with antialiasing, rounded)."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = nnf.interpolate(x,
                        size=(SIZE, SIZE),
                        mode='bilinear',
                        antialias=True,
                        align_corners=False)
    return x[0].round().clamp(0, 255)


@pytest.fixture(scope='module')
def images():
    """(6, 3, 64, 64): 3 photos resized, a random uint8-valued image, a
    random continuous one and a flat grey one (hue's grey case)."""
    photos = [
        _photo(f()) for f in (skimage.data.astronaut, skimage.data.chelsea,
                              skimage.data.coffee)
    ]
    gen = torch.Generator().manual_seed(0)
    integer = torch.randint(0, 256, (3, SIZE, SIZE), generator=gen).float()
    continuous = torch.rand((3, SIZE, SIZE), generator=gen) * 255
    flat = torch.full((3, SIZE, SIZE), 77.)
    return torch.stack(photos + [integer, continuous, flat])


def reference(image: torch.Tensor, fn, *args) -> torch.Tensor:
    """torchvision's functional on the [0, 1] image, back to [0, 255]."""
    return fn(image / 255, *args) * 255


def assert_close(ours, ref):
    diff = (ours - ref).abs().max().item()
    assert diff <= ATOL, f'max abs difference {diff} grey levels'


def one_operation(column: int, values) -> torch.Tensor:
    """(N, 14) parameters that run only the operation of ``column`` (a
    jitter factor's column, GRAY, BLUR_SIGMA, SOLARIZE or FLIP) with one
    value per image (its flag set where the column is a flag)."""
    values = torch.as_tensor(values, dtype=torch.float32)
    params = torch.zeros(len(values), pp.EXEMPLAR_PARAM_DIM)
    params[:, pp.ORDER] = torch.arange(4.)
    params[:, pp.BRIGHTNESS:pp.SATURATION + 1] = 1.
    params[:, column] = values
    if pp.BRIGHTNESS <= column <= pp.HUE:
        params[:, pp.JITTER] = 1.
        params[:, pp.ORDER] = torch.tensor(
            [column - pp.BRIGHTNESS] +
            [k for k in range(4) if k != column - pp.BRIGHTNESS],
            dtype=torch.float32)
    elif column == pp.BLUR_SIGMA:
        params[:, pp.BLUR] = 1.
    return params


FACTOR_OPS = [
    (pp.BRIGHTNESS, tvf.adjust_brightness, [0., 0.6, 1., 1.4, 2.]),
    (pp.CONTRAST, tvf.adjust_contrast, [0., 0.6, 1., 1.4, 2.]),
    (pp.SATURATION, tvf.adjust_saturation, [0., 0.8, 1., 1.2, 2.]),
    (pp.HUE, tvf.adjust_hue, [-0.5, -0.1, -0.03, 0., 0.07, 0.1, 0.5]),
]


@pytest.mark.parametrize('column, theirs, values',
                         FACTOR_OPS,
                         ids=['brightness', 'contrast', 'saturation', 'hue'])
def test_factor_ops_equal_torchvision(images, column, theirs, values):
    for value in values:
        out = ep.apply_exemplar_photometric(
            images, one_operation(column, [value] * len(images)))
        assert out.shape == images.shape
        for image, one in zip(images, out):
            assert_close(one, reference(image, theirs, value))


@pytest.mark.parametrize('sigma', [0.1, 0.5, 1.0, 1.37, 2.0])
def test_gaussian_blur_equals_torchvision(images, sigma):
    out = ep.apply_exemplar_photometric(
        images, one_operation(pp.BLUR_SIGMA, [sigma] * len(images)))
    ref = reference(images, tvf.gaussian_blur, [13, 13], [sigma, sigma])
    assert_close(out, ref)


def test_gaussian_blur_sigma_zero_is_identity(images):
    out = ep.gaussian_blur(images, torch.zeros(len(images)))
    assert torch.equal(out, images)


def test_grayscale_solarize_flip_equal_torchvision(images):
    ones = [1.] * len(images)
    apply = ep.apply_exemplar_photometric
    assert_close(apply(images, one_operation(pp.GRAY, ones)),
                 reference(images, tvf.rgb_to_grayscale, 3))
    for threshold in (0., 128., 255.):
        assert_close(
            apply(images, one_operation(pp.SOLARIZE, ones),
                  solarize_threshold=threshold),
            reference(images, tvf.solarize, threshold / 255))
    assert torch.equal(apply(images, one_operation(pp.FLIP, ones)),
                       tvf.horizontal_flip(images))


def test_batched_per_sample_params_equal_one_by_one(images):
    gen = torch.Generator().manual_seed(1)
    n = len(images)
    uniform = lambda low, high: low + (high - low) * torch.rand(  # noqa
        n, generator=gen)
    cases = [(pp.BRIGHTNESS, uniform(0.6, 1.4)),
             (pp.CONTRAST, uniform(0.6, 1.4)),
             (pp.SATURATION, uniform(0.8, 1.2)), (pp.HUE, uniform(-0.1, 0.1)),
             (pp.BLUR_SIGMA, uniform(0.1, 2.0))]
    for column, values in cases:
        params = one_operation(column, values)
        batched = ep.apply_exemplar_photometric(images, params)
        for i in range(n):
            single = ep.apply_exemplar_photometric(images[i:i + 1],
                                                   params[i:i + 1])
            torch.testing.assert_close(batched[i:i + 1],
                                       single,
                                       rtol=0,
                                       atol=1e-4)


def reference_recipe(image: torch.Tensor,
                     params: torch.Tensor,
                     threshold: float = 128.) -> torch.Tensor:
    """torchvision's functionals on one [0, 255] image, the order and the
    values of ``params`` (one row), clamped as the transforms would."""
    x = image / 255
    p = params.tolist()
    if p[pp.JITTER]:
        fns = (tvf.adjust_brightness, tvf.adjust_contrast,
               tvf.adjust_saturation, tvf.adjust_hue)
        for index in p[pp.ORDER]:
            x = fns[int(index)](x, p[pp.BRIGHTNESS + int(index)])
    if p[pp.GRAY]:
        x = tvf.rgb_to_grayscale(x, 3)
    if p[pp.BLUR]:
        sigma = p[pp.BLUR_SIGMA]
        x = tvf.gaussian_blur(x, [13, 13], [sigma, sigma])
    if p[pp.SOLARIZE]:
        x = tvf.solarize(x, threshold / 255)
    if p[pp.FLIP]:
        x = tvf.horizontal_flip(x)
    return x * 255


def test_recipe_equals_torchvision_sample_by_sample(images):
    """48 exemplars (8 copies of the 6 images), each with its own drawn
    parameters (all 24 orders not needed: the orders differ per sample)."""
    rng = np.random.default_rng(3)
    params = pp.draw_exemplar_photometric(rng, 48)
    params[:, pp.FLIP] = rng.random(48) < 0.5
    # Every operation both on and off somewhere in the batch, orders vary.
    for column in (pp.JITTER, pp.GRAY, pp.BLUR, pp.SOLARIZE, pp.FLIP):
        assert 0 < params[:, column].sum() < len(params)
    assert len({tuple(row) for row in params[:, pp.ORDER]}) > 10
    batch = images.repeat(8, 1, 1, 1)
    params = torch.from_numpy(params)
    out = ep.apply_exemplar_photometric(batch, params)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    for i in range(len(batch)):
        ref = reference_recipe(batch[i], params[i])
        diff = (out[i] - ref).abs()
        # A solarize may flip a pixel that lies within float rounding of
        # the threshold; none did for these draws.
        assert diff.max().item() <= ATOL, (i, params[i], diff.max())


def test_recipe_order_matters_and_is_followed(images):
    """Brightness 1.4 then contrast 0.6 differs from the reverse, and each
    sample follows its own order in one batch."""
    row = np.zeros(pp.EXEMPLAR_PARAM_DIM, np.float32)
    row[pp.JITTER] = 1
    row[[pp.BRIGHTNESS, pp.CONTRAST, pp.SATURATION,
         pp.HUE]] = (1.4, 0.6, 1.2, 0.1)
    params = np.stack([row, row])
    params[0, pp.ORDER] = (0, 1, 2, 3)
    params[1, pp.ORDER] = (3, 2, 1, 0)
    batch = images[:1].repeat(2, 1, 1, 1)
    out = ep.apply_exemplar_photometric(batch, torch.from_numpy(params))
    assert (out[0] - out[1]).abs().max() > 1
    for i in range(2):
        assert_close(out[i],
                     reference_recipe(batch[i], torch.from_numpy(params[i])))


def test_neutral_params_leave_images_unchanged(images):
    params = torch.zeros(len(images), pp.EXEMPLAR_PARAM_DIM)
    params[:, pp.ORDER] = torch.arange(4.)
    params[:, pp.BRIGHTNESS:pp.SATURATION + 1] = 1.
    for whole_batch in (False, True):
        assert torch.equal(
            ep.apply_exemplar_photometric(images, params,
                                          whole_batch=whole_batch), images)


def test_no_host_sync_and_outputs_on_the_device():
    params = torch.from_numpy(
        pp.draw_exemplar_photometric(np.random.default_rng(0), 12))
    with fake_cuda():
        images = torch.rand(12, 3, SIZE, SIZE, device='cuda') * 255
        params = params.to('cuda')
        with DeviceTrafficCounter() as traffic:
            out = ep.apply_exemplar_photometric(images, params)
    assert traffic.syncs == 0, traffic.report('sync')
    assert traffic.copies == 0, traffic.report('copy')
    assert out.device.type == 'cuda' and out.shape == (12, 3, SIZE, SIZE)


def test_drawn_images_only_equals_the_whole_batch_path(images):
    """The CPU computes each operation for the images that drew it, a GPU
    for the whole batch: the same values (float rounding aside), and the
    input is left as it was."""
    rng = np.random.default_rng(5)
    params = pp.draw_exemplar_photometric(rng, 48)
    params[:, pp.FLIP] = rng.random(48) < 0.5
    params = torch.from_numpy(params)
    batch = images.repeat(8, 1, 1, 1)
    before = batch.clone()
    drawn_only = ep.apply_exemplar_photometric(batch, params)
    assert torch.equal(batch, before)
    whole = ep.apply_exemplar_photometric(batch, params, whole_batch=True)
    torch.testing.assert_close(drawn_only, whole, rtol=0, atol=1e-4)
