"""The exemplar photometric augmentation, batched on the device.

:func:`apply_photometric` applies the parameters drawn in the worker by
:class:`~cim_mm.datasets.transforms.PhotometricParamRecorder` (layout in
:mod:`cim_mm.datasets.transforms.photometric_params`) to a batch of uint8
BGR exemplars, in the CPU pipeline's order: colour jitter (its four
adjustments in the drawn order), grayscale, Gaussian blur, solarize. Plain
torch, batched (no loop over samples), CPU or CUDA.

Each operation redoes the CPU transform's arithmetic (as
:class:`FastColorJitter`, mmcv's ``RandomGrayscale``,
:class:`FastGaussianBlur` and mmpretrain's ``Solarize`` run it with
OpenCV 4.11 and its default Intel IPP paths on x86), rounding and
saturating to uint8 after each step as they do:

- brightness, contrast, saturation: ``cv2.addWeighted`` (float32 weights,
  fused multiply-add as its AVX2 / AVX-512 path, round half to even) with
  the luma of ``cv2.COLOR_BGR2GRAY`` (15-bit fixed point) and the contrast
  mean ``int(cv2.mean(gray) + 0.5)``: exact;
- hue: OpenCV's 8-bit full-range HSV, the forward conversion in integers
  with its division tables (exact), the backward one (hue range 255) in
  float32, rounded: 71 of the 2**24 HSV triples come out one grey level
  off IPP's result (OpenCV without IPP truncates instead);
- grayscale: mmcv's float64 weighted sum, truncated: exact;
- blur: a float Gaussian with OpenCV's kernel size and replicated borders,
  as separable per-sample banded matrices (batched matmuls); OpenCV's
  uint8 blur has 8-bit fixed-point kernels: up to ~4% of a blurred
  exemplar's values differ by one grey level;
- solarize: mmcv's ``pixel >= thr`` becomes ``255 - pixel``: exact.

Every operation is computed on the whole batch and kept where a sample
drew it (``torch.where``; the others get neutral parameters): more
arithmetic than computing the drawn samples only, but no host-device sync
and static shapes (``torch.compile``, CUDA graphs). The lookup tables are
built on the images' device, not copied there.
"""
from typing import Optional

import torch
from torch import Tensor

from cim_mm.datasets.transforms.photometric_params import (
    BLUR_KSIZE, BLUR_SIGMA, BRIGHTNESS, FACTOR_RESIDS, GRAY, GRAY_WEIGHTS,
    HUE, JITTER, ORDER, PHOTOMETRIC_PARAM_DIM, SOLARIZE, SOLARIZE_THR)

_HSV_SHIFT = 12
# OpenCV's RGB2HSV_b tables (cvRound of the double quotients; no ties).
_SDIV = (0, ) + tuple(
    round((255 << _HSV_SHIFT) / i) for i in range(1, 256))
_HDIV = (0, ) + tuple(
    round((256 << _HSV_SHIFT) / (6 * i)) for i in range(1, 256))
# HSV2RGB: for sectors 0..5, the (b, g, r) entries of [v, v(1-s),
# v(1-sh), v(1-s(1-h))] (OpenCV's sector_data), flattened; sector 6 (h =
# 255, fraction 0) is sector 0.
_SECTORS = (1, 3, 0, 1, 0, 2, 3, 0, 1, 0, 2, 1, 0, 1, 3, 2, 1, 0, 1, 3, 0)


def _f32(value: float) -> Tensor:
    """A float32 CPU scalar (usable with tensors on any device)."""
    return torch.tensor(value, dtype=torch.float32)


_SIX_OVER_255, _ONE_OVER_255 = _f32(6 / 255), _f32(1 / 255)


def _division_table(numerator: int, divisor_scale: int,
                    device: torch.device) -> Tensor:
    """``(0, round(numerator / (divisor_scale * i)) for i in 1..255)`` as
    int32 on ``device``: float64 quotients of integers are correctly
    rounded, as Python's, and ``torch.round`` rounds half to even, as
    ``round`` (:data:`_SDIV`, :data:`_HDIV`)."""
    i = torch.arange(1, 256, dtype=torch.float64, device=device)
    quotients = torch.round(numerator / (divisor_scale * i)).to(torch.int32)
    return torch.cat([quotients.new_zeros(1), quotients])


def _sector_table(device: torch.device) -> Tensor:
    """:data:`_SECTORS` (21 values in 0..3) as int32 on ``device``, unpacked
    from one integer of 2-bit fields (no host-to-device copy)."""
    code = sum(v << (2 * i) for i, v in enumerate(_SECTORS))
    shifts = 2 * torch.arange(len(_SECTORS), device=device)
    packed = torch.full((len(_SECTORS), ), code, dtype=torch.int64,
                        device=device)
    return ((packed >> shifts) & 3).to(torch.int32)


def _to_uint8_range(x: Tensor) -> Tensor:
    """Round half to even and saturate, as OpenCV's ``saturate_cast``."""
    return x.round().clamp_(0, 255)


def _luma(x: Tensor) -> Tensor:
    """OpenCV's uint8 BGR2GRAY: (n, 3, H, W) -> (n, 1, H, W), exact.

    ``(3735 b + 19235 g + 9798 r + 2**14) >> 15`` (OpenCV 4.x); every term
    is an integer below 2**24, so float32 is exact.
    """
    b, g, r = x.unbind(1)
    acc = b * 3735 + g * 19235 + r * 9798 + 16384
    return torch.floor(acc * (1 / 32768)).unsqueeze(1)


def _blend(x: Tensor, op: Tensor, factor: Tensor, resid: Tensor) -> Tensor:
    """Brightness (op 0), contrast (1) or saturation (2) per sample.

    ``cv2.addWeighted(img, f, other, beta, gamma)`` on uint8 computes
    ``fma(img, f, fma(other, beta, gamma))`` in float32 (f rounded to
    float32): brightness adds 0, contrast ``float32((1 - f) * mean)``,
    saturation ``float32(luma * float32(1 - f))``, with ``1 - f`` from the
    float64 f (``factor + resid``). The float64 product of a uint8 and a
    float32 is exact, so rounding the float64 sum to float32 is the fused
    result.

    Args:
        x (Tensor): (n, 3, H, W) integer-valued float32.
        op (Tensor): (n,) int64 in {0, 1, 2}.
        factor (Tensor): (n,) float32.
        resid (Tensor): (n,) float32, the float64 factor minus ``factor``.

    Returns:
        Tensor: (n, 3, H, W) integer-valued float32.
    """
    gray = _luma(x)
    count = gray[0].numel()
    # cv2.mean: sum times the reciprocal of the count (float64).
    mean = torch.floor(gray.double().sum((1, 2, 3)) * (1 / count) + 0.5)
    one_minus = 1 - (factor.double() + resid.double())
    contrast = (one_minus * mean).float()
    beta = one_minus.float()
    view = (-1, 1, 1, 1)
    offset = torch.where(
        (op == 2).view(view), gray * beta.view(view),
        torch.where((op == 1).view(view), contrast.view(view), 0.))
    out = torch.addcmul(offset.double(), x, factor.view(view).double())
    return _to_uint8_range(out.float())


def _lookup(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` (int32) for an integer tensor."""
    return table.index_select(0, index.reshape(-1).long()).view_as(index)


def _bgr_to_hsv(x: Tensor) -> tuple:
    """OpenCV's uint8 ``COLOR_BGR2HSV_FULL``, in integers (exact).

    Args:
        x (Tensor): (n, 3, H, W) integer-valued float32.

    Returns:
        tuple: h, s, v, each (n, H, W) int32; h in [-43, 213] (OpenCV
        adds 256 to the negative ones), s and v in [0, 255].
    """
    b, g, r = x.to(torch.int32).unbind(1)
    v = torch.maximum(torch.maximum(b, g), r)
    diff = v - torch.minimum(torch.minimum(b, g), r)
    half = 1 << (_HSV_SHIFT - 1)
    sdiv = _division_table(255 << _HSV_SHIFT, 1, x.device)  # _SDIV
    s = (diff * _lookup(sdiv, v) + half) >> _HSV_SHIFT
    h = torch.where(v == r, g - b,
                    torch.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    hdiv = _division_table(256 << _HSV_SHIFT, 6, x.device)  # _HDIV
    h = (h * _lookup(hdiv, diff) + half) >> _HSV_SHIFT
    return h, s, v


def _hsv_to_bgr(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """OpenCV's uint8 ``COLOR_HSV2BGR_FULL``, in float32.

    The backward conversion's full hue range is 255 (the forward one's is
    256: OpenCV's asymmetry). Rounded to nearest, as the default (Intel
    IPP) path; equal to it for all but 71 of the 2**24 HSV triples (one
    grey level). Without IPP, OpenCV's own SIMD loop truncates instead.

    Args:
        h, s, v (Tensor): (n, H, W) int32 in [0, 255].

    Returns:
        Tensor: (n, 3, H, W) integer-valued float32.
    """
    hue = h.float() * _SIX_OVER_255  # in [0, 6]
    sat, val = s.float() * _ONE_OVER_255, v.float() * _ONE_OVER_255
    sector = hue.floor()
    frac = hue - sector
    tab = torch.stack([
        val, val * (1 - sat), val * (1 - sat * frac),
        val * (1 - sat * (1 - frac))
    ], 1)  # (n, 4, H, W)
    pick = _lookup(_sector_table(h.device),
                   sector.to(torch.int32)[..., None] * 3 +
                   torch.arange(3, dtype=torch.int32, device=h.device))
    bgr = tab.gather(1, pick.permute(0, 3, 1, 2).long())  # (n, 3, H, W)
    return _to_uint8_range(bgr * 255)


def _shift_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Add ``shift`` (n,) to the 8-bit full-range hue, mod 256.

    (n, 3, H, W) -> (n, 3, H, W), integer-valued float32.
    """
    h, s, v = _bgr_to_hsv(x)
    h = (h + shift.to(torch.int32).view(-1, 1, 1)) & 255
    return _hsv_to_bgr(h, s, v)


def _where_samples(fn, x: Tensor, mask: Tensor, *args) -> Tensor:
    """``fn(x, *args)`` where ``mask`` (n,) is set, ``x`` elsewhere.

    ``fn`` runs on every sample; each ``args`` entry is a pair ``(values,
    neutral)``: samples outside ``mask`` get ``neutral`` instead of their
    (possibly NaN) values, so that no lookup goes out of range.
    """
    args = [
        torch.where(mask.view(-1, *[1] * (values.dim() - 1)), values, neutral)
        for values, neutral in args
    ]
    return torch.where(mask.view(-1, 1, 1, 1), fn(x, *args), x)


def _color_jitter(x: Tensor, params: Tensor) -> Tensor:
    """The four adjustments in each sample's drawn order."""
    ran = params[:, JITTER] > 0
    order = params[:, ORDER].long()
    factors = params[:, BRIGHTNESS:HUE]  # (n, 3)
    resids = params[:, FACTOR_RESIDS]
    shift = params[:, HUE]
    for position in range(4):
        op = order[:, position]
        pick = op.clamp(max=2)[:, None]
        factor = factors.gather(1, pick)[:, 0]
        resid = resids.gather(1, pick)[:, 0]
        blend = ran & (op < 3) & ~factor.isnan()
        x = _where_samples(_blend, x, blend, (op, 0), (factor, 1.),
                           (resid, 0.))
        hue = ran & (op == 3) & ~shift.isnan()
        x = _where_samples(_shift_hue, x, hue, (shift, 0.))
    return x


def _grayscale(x: Tensor, params: Tensor) -> Tensor:
    """mmcv's ``RandomGrayscale(keep_channels=True)``: the float64 weighted
    sum ``(w0 b + w1 g) + w2 r`` truncated, on all 3 channels."""

    def gray(x: Tensor, weights: Tensor) -> Tensor:
        split = weights.double().view(-1, 3, 3, 1, 1)  # (n, hi/mid/lo, c)
        w = (split[:, 0] + split[:, 1]) + split[:, 2]
        b, g, r = (x.double() * w).unbind(1)
        gray = torch.floor((b + g) + r).clamp_(0, 255).float()
        return gray.unsqueeze(1).repeat(1, 3, 1, 1)

    ran = params[:, GRAY] > 0
    return _where_samples(gray, x, ran, (params[:, GRAY_WEIGHTS], 0.))


def blur_reach(params: Tensor) -> int:
    """The largest Gaussian blur radius ``(ksize - 1) // 2`` among the
    blurred rows of (..., P) photometric parameters (0 if none).

    Read it while the parameters are on the host: on a GPU it is a
    host-device sync.
    """
    if not params.numel():
        return 0
    ksize = params[..., BLUR_KSIZE]
    blurred = (params[..., BLUR_SIGMA] > 0) & (ksize > 0)
    return max(int(torch.where(blurred, ksize, 1).max()) - 1, 0) // 2


def _blur_matrices(sigma: Tensor, ksize: Tensor, size: int,
                   reach: int) -> Tensor:
    """Per-sample replicate-border Gaussian blur as (n, size, size) float64
    matrices, from (n,) sigmas and kernel sizes, with taps in ``[-reach,
    reach]`` (at least every sample's radius).

    Row i holds the kernel taps of output pixel i, clamped source indices
    accumulated (BORDER_REPLICATE); taps beyond a sample's own OpenCV
    radius are 0. Built by a matmul (deterministic, no atomics).
    """
    radius = (ksize.long() - 1) // 2
    taps = torch.arange(-reach, reach + 1, device=sigma.device)
    sigma = sigma.double()[:, None]
    kernel = torch.exp(-0.5 * (taps / sigma)**2)
    kernel = kernel * (taps.abs() <= radius[:, None])
    kernel = kernel / kernel.sum(1, keepdim=True)  # (n, T)
    pixels = torch.arange(size, device=sigma.device)
    source = (pixels[None, :, None] + taps[:, None, None]).clamp(0, size - 1)
    # (T, size, size): 1 where tap t of output pixel i reads pixel j.
    reads = (source == pixels).double()
    return (kernel @ reads.flatten(1)).view(-1, size, size)


def _gaussian_blur(x: Tensor, params: Tensor,
                   reach: Optional[int] = None) -> Tensor:
    """Separable Gaussian blur with each sample's sigma and kernel size;
    ``reach`` as :func:`blur_reach` (computed here if None).

    The matmuls run in float64 on CUDA, whatever the TF32 settings, and in
    float32 on the CPU (three times faster than float64 there).
    """
    dtype = torch.float64 if x.is_cuda else torch.float32

    def blur(x: Tensor, sigma: Tensor, ksize: Tensor) -> Tensor:
        n, _, height, width = x.shape
        rows = _blur_matrices(sigma, ksize, height, reach).to(dtype)
        cols = rows if width == height else _blur_matrices(
            sigma, ksize, width, reach).to(dtype)
        # Along the rows of every channel: (n, 3 H, W) @ (n, W, W).
        out = torch.bmm(
            x.to(dtype).reshape(n, 3 * height, width), cols.transpose(1, 2))
        # Along the columns, transposed: (n, 3 W, H) @ (n, H, H).
        out = out.view(n, 3, height, width).transpose(2, 3)
        out = torch.bmm(out.reshape(n, 3 * width, height),
                        rows.transpose(1, 2))
        return _to_uint8_range(
            out.view(n, 3, width, height).transpose(2, 3).float())

    if reach is None:
        reach = blur_reach(params)
    sigma, ksize = params[:, BLUR_SIGMA], params[:, BLUR_KSIZE]
    return _where_samples(blur, x, (sigma > 0) & (ksize > 0), (sigma, 1.),
                          (ksize, 1.))


def _solarize(x: Tensor, params: Tensor) -> Tensor:
    """mmcv's ``solarize``: pixels ``>= ceil(thr)`` become ``255 - x``."""

    def solarize(x: Tensor, thr: Tensor) -> Tensor:
        return torch.where(x >= thr.view(-1, 1, 1, 1), 255 - x, x)

    return _where_samples(solarize, x, params[:, SOLARIZE] > 0,
                          (params[:, SOLARIZE_THR], 256.))


def apply_photometric(images: Tensor, params: Tensor,
                      blur_reach: Optional[int] = None) -> Tensor:
    """Apply drawn photometric parameters to a batch of exemplars.

    Args:
        images (Tensor): (N, 3, H, W) uint8 BGR, on any device.
        params (Tensor): (N, P) float, P = ``PHOTOMETRIC_PARAM_DIM``, one
            row per image from ``PhotometricParamRecorder``.
        blur_reach (int, optional): at least the largest blur radius of
            ``params`` (:func:`blur_reach`, read where the parameters are
            still on the host). None reads it from ``params``: one
            host-device sync when they are on a GPU.

    Returns:
        Tensor: (N, 3, H, W) uint8 BGR, on the images' device.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or \
            images.shape[1] != 3:
        raise ValueError(f'images must be (N, 3, H, W) uint8, got '
                         f'{tuple(images.shape)} {images.dtype}.')
    if params.shape != (len(images), PHOTOMETRIC_PARAM_DIM):
        raise ValueError(
            f'params must be (N, {PHOTOMETRIC_PARAM_DIM}) for N = '
            f'{len(images)} images, got {tuple(params.shape)}.')
    if not len(images):
        return images.clone()
    params = params.to(images.device, torch.float32)
    x = images.float().contiguous()
    x = _grayscale(_color_jitter(x, params), params)
    x = _solarize(_gaussian_blur(x, params, blur_reach), params)
    return x.to(torch.uint8, memory_format=torch.contiguous_format)
