"""Correlation maps rasterised from exemplar corners (any device)."""
import torch


def rasterize_correlation_maps(corners: torch.Tensor,
                               size: int) -> torch.Tensor:
    """(..., 4, 2) exemplar corners -> (..., size, size) uint8 maps.

    1 exactly where a context pixel centre lies in the closed rectangle with
    corners ``c0, c1, c2, c3`` (context coordinates), computed in float64
    on the corners' device. The rectangle is the intersection of the strips
    ``0 <= (p - c0) . e <= |e|^2`` for ``e = c1 - c0`` and ``e = c3 - c0``;
    on pixel row i each strip is an interval of x.
    """
    shape = corners.shape[:-2]
    corners = corners.reshape(-1, 4, 2).double()
    device, inf = corners.device, float('inf')
    centres = torch.arange(size, dtype=torch.float64, device=device) + 0.5
    lower = torch.full((len(corners), size), -inf, dtype=torch.float64,
                       device=device)
    upper = torch.full_like(lower, inf)
    origin = corners[:, 0]
    for edge in (corners[:, 1] - origin, corners[:, 3] - origin):
        length2 = (edge**2).sum(1, keepdim=True)
        ex, ey = edge[:, :1], edge[:, 1:]
        lo = -ey * (centres - origin[:, 1:])
        hi = lo + length2
        x_at_lo = lo / ex + origin[:, :1]
        x_at_hi = hi / ex + origin[:, :1]
        # ex == 0: the strip holds whole rows (0 in [lo, hi]) or none.
        parallel, row_in = ex == 0, (lo <= 0) & (0 <= hi)
        whole = torch.where(row_in, -inf, inf)
        lower = torch.maximum(
            lower,
            torch.where(parallel, whole,
                        torch.where(ex > 0, x_at_lo, x_at_hi)))
        upper = torch.minimum(
            upper,
            torch.where(parallel, -whole,
                        torch.where(ex > 0, x_at_hi, x_at_lo)))
    # Column j is inside iff lower <= j + 0.5 <= upper.
    first = torch.ceil(torch.clamp(lower - 0.5, -1, size))
    last = torch.floor(torch.clamp(upper - 0.5, -1, size))
    columns = torch.arange(size, dtype=torch.float64, device=device)
    inside = (columns >= first[..., None]) & (columns <= last[..., None])
    return inside.to(torch.uint8).reshape(*shape, size, size)
