"""The exemplar photometric augmentation with torchvision's definitions,
batched with per-sample parameters.

Each operation takes float images in [0, 255], (N, 3, H, W) RGB, and a
parameter tensor of shape (N,) (one value per image), and returns (N, 3, H,
W) in [0, 255]. They compute what ``torchvision.transforms.v2.functional``
computes on float images in [0, 1] with the same parameter, times 255
(float32 rounding aside; the tests state the tolerances): the blends of
brightness (with black), contrast (with the mean of the image's grayscale)
and saturation (with its grayscale), clamped to the range; hue through
torchvision's RGB -> HSV -> RGB; grayscale with the luma weights 0.2989,
0.587, 0.114; a Gaussian blur with reflected borders; solarize; flip.
Plain torch, CPU or CUDA, no host-device sync (no ``.item()``, masks or
branching on values) and static shapes: operations that only some images
draw are computed for all and kept with ``torch.where``.

:func:`apply_exemplar_photometric` runs the whole recipe from the packed
parameters drawn by :func:`cim_mm.datasets.transforms.
exemplar_photometric_params.draw_exemplar_photometric` (layout there):
colour jitter (its four adjustments in each image's own order), grayscale,
blur, solarize, flip. The order is per image: at each of the 4 positions,
the blend (brightness, contrast or saturation: one blend whose second image
and factor are picked per image) and the hue shift are both computed for
the whole batch and each image keeps the one it drew there. A fixed order
would compute each adjustment once; the per-image order computes the hue
shift, the dearest step, 4 times instead of once, and the blend 4 times
instead of 3 (its cost: docs/benchmarks.md). It buys the release's
distribution of orders without a loop over images or a sync.
"""
import torch
from torch import Tensor
from torchvision.transforms.v2.functional import rgb_to_grayscale

from cim_mm.datasets.transforms.exemplar_photometric_params import (
    BLUR, BLUR_SIGMA, BRIGHTNESS, FLIP, GRAY, HUE, JITTER, ORDER, SOLARIZE)

#: torchvision's luma weights (ITU-R 601-2) for R, G, B.
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)
#: Fixed blur kernel side: torchvision's rule for the largest sigma of the
#: release, 2 * ceil(3 * 2.0) + 1; static shapes for every sigma.
BLUR_KERNEL_SIZE = 13
#: The release's solarize threshold (of 255).
SOLARIZE_THRESHOLD = 128.
MAX_VALUE = 255.


def _per_image(values: Tensor) -> Tensor:
    """(N,) -> (N, 1, 1, 1), to broadcast over images."""
    return values.reshape(-1, 1, 1, 1)


def _blend(images: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """``factor * images + (1 - factor) * other``, clamped to [0, 255].

    Args:
        images (Tensor): (N, 3, H, W).
        other (Tensor): broadcastable to ``images``.
        factor (Tensor): (N,).
    """
    factor = _per_image(factor).to(images.dtype)
    return (images * factor + other * (1 - factor)).clamp_(0, MAX_VALUE)


def luma(images: Tensor) -> Tensor:
    """torchvision's grayscale (its own function, batched; weights
    :data:`LUMA_WEIGHTS`): (N, 3, H, W) RGB -> (N, 1, H, W)."""
    return rgb_to_grayscale(images, num_output_channels=1)


def adjust_brightness(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with black: ``images * factor``, clamped. factor: (N,) >= 0."""
    return _blend(images, images.new_zeros(()), factor)


def adjust_contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the mean of each image's grayscale, clamped.
    factor: (N,) >= 0."""
    mean = luma(images).mean((1, 2, 3), keepdim=True)
    return _blend(images, mean, factor)


def adjust_saturation(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with each image's grayscale, clamped. factor: (N,) >= 0."""
    return _blend(images, luma(images), factor)


def _hue_sextants(images: Tensor) -> tuple:
    """torchvision's HSV hue, in sixths of the circle, with the value and
    the chroma: (N, 3, H, W) RGB -> ``hue6`` in [0, 6) (0 for grey
    pixels), ``high`` (the channels' maximum, HSV's value) and ``spread``
    (maximum - minimum, HSV's saturation times value), each (N, H, W).

    As torchvision: the maximum channel is red if red ties, else green if
    green ties, and the hue is ``(g - b) / spread`` (red), ``2 + (b - r) /
    spread`` (green) or ``4 + (r - g) / spread`` (blue), modulo 6.
    """
    r, g, b = images.unbind(1)
    low, high = torch.aminmax(images, dim=1)
    spread = high - low
    red_max = high == r
    green_max = high == g
    numerator = torch.where(red_max, g - b,
                            torch.where(green_max, b - r, r - g))
    base = torch.where(red_max, 0., torch.where(green_max, 2., 4.))
    hue6 = base + numerator / torch.where(spread == 0, 1., spread)
    return torch.remainder(hue6, 6.), high, spread


def adjust_hue(images: Tensor, factor: Tensor) -> Tensor:
    """Rotate the hue by ``factor`` (N,) in [-0.5, 0.5] of the circle, as
    torchvision: RGB -> HSV, hue + factor modulo 1, HSV -> RGB.

    The way back in closed form: with ``v`` the value, ``s`` the
    saturation, torchvision's sector table picks, per channel, ``v``,
    ``p = v (1 - s)``, ``q = v (1 - s f)`` or ``t = v (1 - s (1 - f))``
    (``f`` the hue's fraction within its sixth); that is
    ``v - v s clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6 hue) mod 6``
    and n = 5, 3, 1 for R, G, B, and ``v s`` is the spread. Same function,
    about a third fewer operations than the table; the rounding differs
    by float32 units. A factor of 0 returns the image as is.
    """
    hue6, high, spread = _hue_sextants(images)
    hue6 = torch.remainder(hue6 + 6 * factor.reshape(-1, 1, 1).to(hue6.dtype),
                           6.)
    channels = []
    for offset in (5., 3., 1.):
        k = torch.remainder(hue6 + offset, 6.)
        weight = torch.minimum(k, 4 - k).clamp_(0, 1)
        channels.append(high - spread * weight)
    shifted = torch.stack(channels, 1).clamp_(0, MAX_VALUE)
    return torch.where(_per_image(factor == 0), images, shifted)


def to_grayscale(images: Tensor) -> Tensor:
    """The luma on 3 channels: (N, 3, H, W) -> (N, 3, H, W)."""
    return luma(images).expand_as(images)


def gaussian_kernels(sigma: Tensor, size: int = BLUR_KERNEL_SIZE) -> Tensor:
    """torchvision's 1-D Gaussian kernels: (N,) sigma -> (N, size), weights
    ``exp(-k^2 / (2 sigma^2))`` at offsets k = -size//2 .. size//2,
    normalised to sum 1. A sigma <= 0 gives the identity kernel."""
    offsets = torch.arange(size, device=sigma.device,
                           dtype=sigma.dtype) - size // 2
    sigma = sigma.clamp_min(1e-3).unsqueeze(1)  # 0 -> identity, no NaN
    return torch.softmax(-0.5 * (offsets / sigma)**2, dim=1)


def gaussian_blur(images: Tensor,
                  sigma: Tensor,
                  size: int = BLUR_KERNEL_SIZE) -> Tensor:
    """Gaussian blur with a sigma per image and a fixed odd kernel side.

    Equals torchvision's ``gaussian_blur(img, [size, size], [s, s])``
    (borders reflected, without repeating the edge pixel) up to float
    rounding, computed as two 1-D passes (grouped convolutions: one kernel
    per image and channel). H and W must exceed ``size // 2``.

    Args:
        images (Tensor): (N, C, H, W).
        sigma (Tensor): (N,) sigma in pixels (<= 0: unchanged image).
        size (int): odd kernel side.

    Returns:
        Tensor: (N, C, H, W).
    """
    num, channels, height, width = images.shape
    half = size // 2
    kernels = gaussian_kernels(sigma.to(images.dtype), size)
    kernels = kernels.unsqueeze(1).expand(num, channels,
                                          size).reshape(num * channels, size)
    padded = torch.nn.functional.pad(images, (half, half, half, half),
                                     mode='reflect')
    padded = padded.reshape(1, num * channels, height + 2 * half,
                            width + 2 * half)
    groups = num * channels
    rows = torch.nn.functional.conv2d(padded,
                                      kernels.view(groups, 1, 1, size),
                                      groups=groups)
    out = torch.nn.functional.conv2d(rows,
                                     kernels.view(groups, 1, size, 1),
                                     groups=groups)
    return out.reshape(num, channels, height, width)


def solarize(images: Tensor, threshold: float = SOLARIZE_THRESHOLD) -> Tensor:
    """Invert (``255 - x``) the values >= ``threshold``."""
    return torch.where(images >= threshold, MAX_VALUE - images, images)


def hflip(images: Tensor) -> Tensor:
    """Mirror left-right."""
    return images.flip(-1)


def _jitter(images: Tensor, params: Tensor) -> Tensor:
    """The colour jitter, each image's adjustments in its own order.

    At each of the 4 positions every image gets one blend (brightness:
    with 0, contrast: with the grayscale's mean, saturation: with the
    grayscale; factor and second image picked by the adjustment it drew
    there) and one hue shift, and keeps the result of what it drew; images
    that do not jitter keep their input.
    """
    jitter = _per_image(params[:, JITTER] > 0)
    order = params[:, ORDER].to(torch.int64)
    factors = params[:, BRIGHTNESS:HUE + 1].to(images.dtype)  # (N, 4)
    for position in range(4):
        op = order[:, position]
        gray = luma(images)
        mean = gray.mean((1, 2, 3), keepdim=True)
        op_image = _per_image(op)
        other = torch.where(op_image == 0, 0.,
                            torch.where(op_image == 1, mean, gray))
        factor = factors.gather(1, op.clamp(max=2).unsqueeze(1)).squeeze(1)
        blended = _blend(images, other, factor)
        hued = adjust_hue(images, factors[:, 3])
        images = torch.where(jitter, torch.where(op_image == 3, hued, blended),
                             images)
    return images


def _drawn(flags: Tensor) -> bool:
    """Whether any image drew an operation (``flags``: (N,) bool). Always
    True off the CPU, where reading it would be a host-device sync; on the
    CPU an operation no image drew is skipped (its ``torch.where`` would
    return the input unchanged)."""
    return flags.device.type != 'cpu' or bool(flags.any())


def apply_exemplar_photometric(
        images: Tensor,
        params: Tensor,
        blur_kernel_size: int = BLUR_KERNEL_SIZE,
        solarize_threshold: float = SOLARIZE_THRESHOLD) -> Tensor:
    """The exemplar photometric augmentation of a batch.

    In order: colour jitter (where ``JITTER``; the adjustments in the
    image's ``ORDER``, each with its factor), grayscale (``GRAY``), blur
    (``BLUR``, with ``BLUR_SIGMA``), solarize (``SOLARIZE``), horizontal
    flip (``FLIP``); each result clamped to [0, 255], as torchvision
    clamps its float images to [0, 1]. Not rounded to integer grey levels.

    Args:
        images (Tensor): (N, 3, H, W) float RGB in [0, 255].
        params (Tensor): (N, EXEMPLAR_PARAM_DIM) float, on the images'
            device, the layout of :mod:`cim_mm.datasets.transforms.
            exemplar_photometric_params`.
        blur_kernel_size (int): the blur's fixed odd kernel side.
        solarize_threshold (float): values >= it are inverted.

    Returns:
        Tensor: (N, 3, H, W) in [0, 255], the images' dtype.
    """
    if _drawn(params[:, JITTER] > 0):
        images = _jitter(images, params)
    gray = params[:, GRAY] > 0
    if _drawn(gray):
        images = torch.where(_per_image(gray), to_grayscale(images), images)
    blur = params[:, BLUR] > 0
    if _drawn(blur):
        blurred = gaussian_blur(images, params[:, BLUR_SIGMA],
                                blur_kernel_size)
        images = torch.where(_per_image(blur), blurred.clamp_(0, MAX_VALUE),
                             images)
    solar = params[:, SOLARIZE] > 0
    if _drawn(solar):
        images = torch.where(_per_image(solar),
                             solarize(images, solarize_threshold), images)
    flip = params[:, FLIP] > 0
    if _drawn(flip):
        images = torch.where(_per_image(flip), hflip(images), images)
    return images
