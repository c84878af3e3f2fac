"""Bilinear upsampling (``align_corners=True``) as two small matmuls."""
import torch


def interpolation_matrix(size_in: int, size_out: int, device=None,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(size_out, size_in) weights of 1-D linear interpolation with the end
    samples aligned (``align_corners=True``).

    Computed in float64 with factory and elementwise ops on ``device`` (no
    host-to-device copy), then cast to ``dtype``.
    """
    columns = torch.arange(size_in, device=device)
    if size_in == 1 or size_out == 1:
        first = (columns == 0).to(dtype)
        return first.expand(size_out, size_in).clone()
    position = torch.arange(size_out, dtype=torch.float64, device=device) * (
        (size_in - 1) / (size_out - 1))
    left = position.floor().long().clamp(max=size_in - 2)[:, None]
    weight = (position[:, None] - left)
    matrix = (columns == left) * (1 - weight) + (columns == left + 1) * weight
    return matrix.to(dtype)


def bilinear_upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """``F.interpolate(x, (size, size), mode='bilinear',
    align_corners=True)`` for (..., h, w) maps, as ``A_h @ x @ A_w^T``.

    The same linear map (to float rounding) as two GEMMs, whose backward is
    cheaper on a GPU than the interpolation kernel's. Computed in float32
    or wider, autocast or not (as autocast runs ``F.interpolate``): float32
    output for bf16 / fp16 input. The matrices are built on ``x``'s device
    at each call (nothing cached, so ``torch.compile`` traces them).
    """
    height, width = x.shape[-2:]
    dtype = torch.promote_types(x.dtype, torch.float32)
    with torch.autocast(x.device.type, enabled=False):
        rows = interpolation_matrix(height, size, x.device, dtype)
        cols = interpolation_matrix(width, size, x.device, dtype)
        return rows @ x.to(dtype) @ cols.transpose(0, 1)
