"""Context and exemplar pixels resampled on the device from search images.

Coordinates as in ``CorrelationalCrop``: ``(x, y)``, pixel ``[i, j]`` covers
``[j, j + 1) x [i, i + 1)``; the context square is ``[0, m]^2`` and the
search image ``[0, S]^2`` shows the same content (the context is the search
image resized), so a context point ``p`` is the search point ``p * S / m``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .correlation_maps import rasterize_correlation_maps
from .photometric_ops import apply_photometric

#: Bilinear samples per exemplar pixel along each axis, averaged: the
#: anti-aliasing of exemplars that shrink (the CPU path takes up to 3 too).
SUPERSAMPLING = 3


def resize_context(search: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, S, S) float search images -> (B, C, size, size) contexts,
    antialiased when shrinking, rounded to integer grey levels like the CPU
    path's uint8 context."""
    if search.shape[-1] == size:
        return search
    context = F.interpolate(search, size=(size, size), mode='bilinear',
                            align_corners=False, antialias=True)
    return context.round_().clamp_(0, 255)


def sample_exemplars(search: torch.Tensor, corners: torch.Tensor,
                     context_size: int, exemplar_size: int,
                     supersampling: int = SUPERSAMPLING) -> torch.Tensor:
    """Resample each exemplar rectangle of each search image to n x n.

    Args:
        search (torch.Tensor): (B, C, S, S) float search images.
        corners (torch.Tensor): (B, K, 4, 2) exemplar corners ``c0..c3``
            in context coordinates (top-left, top-right, bottom-right,
            bottom-left of the exemplar image).
        context_size (int): m, the side the corners refer to.
        exemplar_size (int): n.
        supersampling (int): q: q x q bilinear samples per exemplar pixel,
            averaged.

    Returns:
        torch.Tensor: (B, K, C, n, n) float, rounded to integer grey
        levels. Exemplar pixel ``[b, a]`` covers the context parallelogram
        ``c0 + [a, a + 1] / n * (c1 - c0) + [b, b + 1] / n * (c3 - c0)``.
    """
    batch, channels, side = search.shape[:3]
    num = corners.shape[1]
    n, q = exemplar_size, supersampling
    corners = corners.to(search.dtype) * (side / context_size)
    steps = (torch.arange(n * q, device=search.device, dtype=search.dtype) +
             0.5) / (n * q)
    origin = corners[:, :, 0, None, None]  # (B, K, 1, 1, 2)
    axis_x = (corners[:, :, 1] - corners[:, :, 0])[:, :, None, None]
    axis_y = (corners[:, :, 3] - corners[:, :, 0])[:, :, None, None]
    points = (origin + steps[None, None, None, :, None] * axis_x +
              steps[None, None, :, None, None] * axis_y)  # (B, K, nq, nq, 2)
    # The K exemplars stacked as rows of one sampling grid per image.
    grid = (points * (2 / side) - 1).reshape(batch, num * n * q, n * q, 2)
    samples = F.grid_sample(search, grid, mode='bilinear',
                            padding_mode='border', align_corners=False)
    samples = samples.reshape(batch, channels, num, n * q, n * q)
    samples = samples.transpose(1, 2).reshape(batch * num, channels, n * q,
                                              n * q)
    if q > 1:
        samples = F.avg_pool2d(samples, q)
    return samples.round_().clamp_(0, 255).reshape(batch, num, channels, n,
                                                   n)


def synthesise_pairs(search: torch.Tensor, corners: torch.Tensor,
                     photometric: torch.Tensor, flipped: torch.Tensor,
                     context_size: int, exemplar_size: int,
                     blur_reach: Optional[int] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of pairs from its search images and drawn parameters, on the
    tensors' device, batched, without host-device synchronisation (given
    ``blur_reach``).

    Args:
        search (torch.Tensor): (B, 3, S, S) search images, uint8 or float
            (channel order kept: the shipped pipelines give BGR).
        corners (torch.Tensor): (B, K, 4, 2) exemplar corners in context
            coordinates (:func:`sample_exemplars`).
        photometric (torch.Tensor): (B, K, P) each exemplar's photometric
            parameters (layout: ``cim_mm.datasets.transforms.
            photometric_params``).
        flipped (torch.Tensor): (B, K) bool, exemplars flipped horizontally
            (after their photometric augmentation; maps are not flipped).
        context_size (int): m. exemplar_size (int): n.
        blur_reach (int, optional): the largest blur kernel radius of the
            batch, read from ``photometric`` on the host; None measures it
            on the device (a synchronisation).

    Returns:
        tuple: contexts (B, 3, m, m) and exemplars (B, K, 3, n, n), float
        with integer grey levels, and the correlation maps (B, K, m, m)
        uint8.
    """
    search = search.float()
    batch, num = corners.shape[:2]
    exemplars = sample_exemplars(search, corners, context_size,
                                 exemplar_size)
    exemplars = apply_photometric(
        exemplars.flatten(0, 1).to(torch.uint8), photometric.flatten(0, 1),
        blur_reach=blur_reach)
    exemplars = torch.where(flipped.flatten()[:, None, None, None],
                            exemplars.flip(-1), exemplars)
    exemplars = exemplars.reshape(batch, num, *exemplars.shape[1:])
    maps = rasterize_correlation_maps(corners, context_size)
    return resize_context(search, context_size), exemplars, maps
