"""The exemplars' photometric augmentation, batched, with torchvision's
definitions.

:func:`apply_exemplar_photometric` applies to each image of a batch what
``torchvision.transforms.v2.functional`` computes on a float image in
[0, 1] with that image's drawn values, times 255 (float32 rounding aside;
the tests state the tolerances): colour jitter (brightness, contrast and
saturation as blends with black, the grayscale's mean and the grayscale,
the hue through HSV), in the image's own order; grayscale (ITU-R 601-2
luma); Gaussian blur (reflected borders); solarize; horizontal flip. The
values are the rows of ``draw_exemplar_photometric`` (layout in
:mod:`cim_mm.datasets.transforms.exemplar_photometric_params`).

Plain torch with static shapes and no host-device sync on a GPU: each
operation is computed for the whole batch and kept per image with
``torch.where``. On the CPU, where reading a flag costs nothing, each is
computed only for the images that drew it.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2.functional import rgb_to_grayscale

from cim_mm.datasets.transforms.exemplar_photometric_params import (
    BLUR, BLUR_SIGMA, BRIGHTNESS, FLIP, GRAY, HUE, JITTER, ORDER, SOLARIZE)

#: Fixed blur kernel side: torchvision's rule for the release's largest
#: sigma, 2 * ceil(3 * 2.0) + 1, so every sigma has the same shapes.
BLUR_KERNEL_SIZE = 13
#: The release's solarize threshold (of 255).
SOLARIZE_THRESHOLD = 128.
MAX_VALUE = 255.


def _per_image(values: Tensor) -> Tensor:
    """(N,) -> (N, 1, 1, 1), to broadcast over images."""
    return values.reshape(-1, 1, 1, 1)


def luma(images: Tensor) -> Tensor:
    """torchvision's grayscale: (N, 3, H, W) RGB -> (N, 1, H, W)."""
    return rgb_to_grayscale(images, num_output_channels=1)


def adjust_hue(images: Tensor, factor: Tensor) -> Tensor:
    """Rotate the hue by ``factor`` (N,) in [-0.5, 0.5] of the circle, as
    torchvision: RGB -> HSV, hue + factor modulo 1, HSV -> RGB.

    The hue as torchvision computes it (the maximum channel is red if red
    ties, else green; grey pixels have hue 0), in sixths of the circle.
    The way back in closed form: channel c is ``v - v s clamp(min(k, 4 -
    k), 0, 1)`` with ``k = (n_c + 6 hue) mod 6``, n = 5, 3, 1 for R, G, B;
    ``v`` is the maximum and ``v s`` the spread (maximum - minimum). It is
    torchvision's sector table with fewer operations; the rounding differs
    by float32 units. A factor of 0 returns the image as is.
    """
    r, g, b = images.unbind(1)
    low, high = torch.aminmax(images, dim=1)
    spread = high - low
    red_max, green_max = high == r, high == g
    numerator = torch.where(red_max, g - b,
                            torch.where(green_max, b - r, r - g))
    base = torch.where(red_max, 0., torch.where(green_max, 2., 4.))
    hue6 = torch.remainder(
        base + numerator / torch.where(spread == 0, 1., spread), 6.)
    hue6 = torch.remainder(hue6 + 6 * factor.reshape(-1, 1, 1).to(hue6.dtype),
                           6.)
    channels = []
    for offset in (5., 3., 1.):
        k = torch.remainder(hue6 + offset, 6.)
        channels.append(high - spread * torch.minimum(k, 4 - k).clamp_(0, 1))
    shifted = torch.stack(channels, 1).clamp_(0, MAX_VALUE)
    return torch.where(_per_image(factor == 0), images, shifted)


def gaussian_blur(images: Tensor,
                  sigma: Tensor,
                  size: int = BLUR_KERNEL_SIZE) -> Tensor:
    """Gaussian blur with a sigma per image and a fixed odd kernel side.

    torchvision's ``gaussian_blur(img, [size, size], [s, s])`` (weights
    ``exp(-k^2 / (2 s^2))`` normalised, borders reflected without repeating
    the edge pixel) up to float rounding, as two 1-D grouped convolutions.

    Args:
        images (Tensor): (N, C, H, W), H and W > ``size // 2``.
        sigma (Tensor): (N,) in pixels; <= 0 leaves the image unchanged.
        size (int): odd kernel side.

    Returns:
        Tensor: (N, C, H, W).
    """
    num, channels, height, width = images.shape
    half = size // 2
    offsets = torch.arange(size, device=images.device,
                           dtype=images.dtype) - half
    sigma = sigma.to(images.dtype).clamp_min(1e-3).unsqueeze(1)
    kernels = torch.softmax(-0.5 * (offsets / sigma)**2, dim=1)  # (N, size)
    groups = num * channels
    kernels = kernels.repeat_interleave(channels, 0)
    padded = F.pad(images, (half, half, half, half), mode='reflect')
    padded = padded.reshape(1, groups, height + 2 * half, width + 2 * half)
    rows = F.conv2d(padded, kernels.view(groups, 1, 1, size), groups=groups)
    out = F.conv2d(rows, kernels.view(groups, 1, size, 1), groups=groups)
    return out.reshape(num, channels, height, width)


def _blend(images: Tensor, op: Tensor, factors: Tensor) -> Tensor:
    """Each image's blend ``f x + (1 - f) y``, clamped: the factor ``f`` and
    the second image ``y`` of its adjustment ``op`` (N,) (0 brightness: 0;
    1 contrast: the grayscale's mean; 2 saturation: the grayscale; 3 hue:
    computed as saturation, not used); ``factors`` (N, 4)."""
    op = _per_image(op)
    gray = luma(images)
    mean = gray.mean((1, 2, 3), keepdim=True)
    other = torch.where(op == 0, 0., torch.where(op == 1, mean, gray))
    factor = _per_image(factors.gather(1, op.reshape(-1, 1).clamp(max=2)))
    return (images * factor + other * (1 - factor)).clamp_(0, MAX_VALUE)


def _update(images: Tensor, flags: Tensor, operation,
            whole_batch: bool) -> Tensor:
    """``images`` with ``operation(images[rows], rows)`` where the (N,) bool
    ``flags`` are set. ``whole_batch``: computed for all images and kept
    with ``torch.where`` (static shapes, no host sync); else computed for
    the flagged rows only and written into ``images`` in place (reading the
    flags: for the CPU, where that costs nothing)."""
    if whole_batch:
        return torch.where(_per_image(flags),
                           operation(images, slice(None)), images)
    rows = flags.nonzero().squeeze(1)
    if len(rows):
        images[rows] = operation(images[rows], rows)
    return images


def apply_exemplar_photometric(
        images: Tensor,
        params: Tensor,
        blur_kernel_size: int = BLUR_KERNEL_SIZE,
        solarize_threshold: float = SOLARIZE_THRESHOLD,
        whole_batch: Optional[bool] = None) -> Tensor:
    """The photometric augmentation of a batch, each image with its values.

    In order: colour jitter (``JITTER``: at each of the 4 positions of the
    image's ``ORDER``, the blend or the hue shift it drew there), grayscale
    (``GRAY``), blur (``BLUR``, ``BLUR_SIGMA``), solarize (``SOLARIZE``:
    values >= the threshold become ``255 - x``), horizontal flip
    (``FLIP``); each result in [0, 255], not rounded.

    Args:
        images (Tensor): (N, 3, H, W) float RGB in [0, 255].
        params (Tensor): (N, 14) float on the images' device.
        blur_kernel_size (int): the blur's fixed odd kernel side.
        solarize_threshold (float): of 255.
        whole_batch (bool, optional): compute every operation for the whole
            batch (no host sync) or only for the images that drew it (the
            same values, within float rounding). None (default): the whole
            batch off the CPU, the drawn images on the CPU.

    Returns:
        Tensor: (N, 3, H, W) in [0, 255], the images' dtype (a new tensor).
    """
    if whole_batch is None:
        whole_batch = images.device.type != 'cpu'
    if not whole_batch:
        images = images.clone()
    jitter = params[:, JITTER] > 0
    order = params[:, ORDER].to(torch.int64)
    factors = params[:, BRIGHTNESS:HUE + 1].to(images.dtype)  # (N, 4)
    hue_at = (order == 3).to(torch.int64).argmax(1)  # (N,) its position

    def blend(images: Tensor, position: int, drawn: Tensor) -> Tensor:
        op = order[:, position]
        return _update(images, jitter & drawn,
                       lambda x, rows: _blend(x, op[rows], factors[rows]),
                       whole_batch)

    # Each image's blends before its hue shift, the hue shift (computed
    # once: the dearest step; on the CPU in four smaller groups, by
    # position, which is faster there), then its blends after it.
    for position in range(3):
        images = blend(images, position, position < hue_at)
    hue_groups = [jitter] if whole_batch else [
        jitter & (hue_at == position) for position in range(4)]
    for drawn in hue_groups:
        images = _update(images, drawn,
                         lambda x, rows: adjust_hue(x, factors[rows, 3]),
                         whole_batch)
    for position in range(1, 4):
        images = blend(images, position, position > hue_at)
    images = _update(images, params[:, GRAY] > 0,
                     lambda x, rows: luma(x).expand_as(x), whole_batch)
    images = _update(
        images, params[:, BLUR] > 0,
        lambda x, rows: gaussian_blur(x, params[rows, BLUR_SIGMA],
                                      blur_kernel_size).clamp_(0, MAX_VALUE),
        whole_batch)
    images = _update(
        images, params[:, SOLARIZE] > 0,
        lambda x, rows: torch.where(x >= solarize_threshold, MAX_VALUE - x,
                                    x), whole_batch)
    return _update(images, params[:, FLIP] > 0,
                   lambda x, rows: x.flip(-1), whole_batch)
