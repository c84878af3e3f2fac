"""The one pair synthesis: contexts, exemplars and maps from search images
and drawn parameters, batched, on any device, without host-device sync.

Coordinates: ``(x, y)``, x right, y down; pixel ``[i, j]`` covers ``[j, j +
1) x [i, i + 1)``. The context ``[0, m]^2`` is the search image ``[0, S]^2``
resized, so a context point ``p`` is the search point ``p * S / m``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .correlation_maps import rasterize_correlation_maps
from .exemplar_photometric import apply_exemplar_photometric

#: Bilinear samples per exemplar pixel along each axis, averaged: the
#: antialiasing of exemplars that shrink (up to 3x, as the release's PIL).
SUPERSAMPLING = 3
#: Images resampled together on the CPU (:func:`sample_exemplars`).
CPU_IMAGES_PER_CALL = 2


def resize_context(search: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, S, S) float -> (B, C, size, size) contexts (antialiased
    bilinear), rounded to integer grey levels."""
    if search.shape[-1] == size:
        return search
    context = F.interpolate(search, size=(size, size), mode='bilinear',
                            align_corners=False, antialias=True)
    return context.round_().clamp_(0, 255)


def sample_exemplars(search: torch.Tensor,
                     corners: torch.Tensor,
                     context_size: int,
                     exemplar_size: int,
                     supersampling: int = SUPERSAMPLING,
                     images_per_call: Optional[int] = None) -> torch.Tensor:
    """Resample each exemplar rectangle of each search image to n x n.

    Args:
        search (torch.Tensor): (B, C, S, S) float search images.
        corners (torch.Tensor): (B, K, 4, 2) corners ``c0..c3`` (top-left,
            top-right, bottom-right, bottom-left of the exemplar image) in
            the coordinates of the m x m context.
        context_size (int): m. exemplar_size (int): n.
        supersampling (int): q x q bilinear samples per pixel, averaged.
        images_per_call (int, optional): images resampled together (the
            same values for any number). None: :data:`CPU_IMAGES_PER_CALL`
            on the CPU, where small buffers are faster, the whole batch
            elsewhere.

    Returns:
        torch.Tensor: (B, K, C, n, n) float with integer grey levels; pixel
        ``[b, a]`` covers ``c0 + [a, a + 1] / n * (c1 - c0) + [b, b + 1] / n
        * (c3 - c0)``.
    """
    batch, channels, side = search.shape[:3]
    if images_per_call is None:
        images_per_call = (CPU_IMAGES_PER_CALL
                           if search.device.type == 'cpu' else batch)
    if images_per_call < 1:
        raise ValueError('sample_exemplars: images_per_call must be >= 1 '
                         f'(or None), got {images_per_call}.')
    if batch > images_per_call:
        return torch.cat([
            sample_exemplars(search[i:i + images_per_call],
                             corners[i:i + images_per_call], context_size,
                             exemplar_size, supersampling, images_per_call)
            for i in range(0, batch, images_per_call)
        ])
    num = corners.shape[1]
    n, q = exemplar_size, supersampling
    corners = corners.to(search.dtype) * (side / context_size)
    steps = (torch.arange(n * q, device=search.device, dtype=search.dtype) +
             0.5) / (n * q)
    origin = corners[:, :, 0, None, None]  # (B, K, 1, 1, 2)
    axis_x = (corners[:, :, 1] - corners[:, :, 0])[:, :, None, None]
    axis_y = (corners[:, :, 3] - corners[:, :, 0])[:, :, None, None]
    grid = origin + steps[None, None, None, :, None] * axis_x
    grid = grid + steps[None, None, :, None, None] * axis_y  # B, K, nq, nq, 2
    # In [-1, 1]; the K exemplars stacked as rows of one grid per image.
    grid = grid.mul_(2 / side).sub_(1).reshape(batch, num * n * q, n * q, 2)
    samples = F.grid_sample(search, grid, mode='bilinear',
                            padding_mode='border', align_corners=False)
    if q > 1:  # each exemplar is nq rows: no window spans two exemplars
        samples = F.avg_pool2d(samples, q)
    samples = samples.round_().clamp_(0, 255).reshape(batch, channels, num,
                                                       n, n)
    return samples.transpose(1, 2).contiguous()


def augment(images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """:func:`apply_exemplar_photometric` on (N, 3, H, W) float BGR images
    in [0, 255] with (N, 14) parameters, rounded once, at the end."""
    rgb = apply_exemplar_photometric(images.flip(1), params.to(images.dtype))
    return rgb.round_().flip(1)


def synthesise_pairs(search: torch.Tensor,
                     corners: torch.Tensor,
                     context_size: int,
                     exemplar_size: int,
                     exemplar_augmentation: Optional[torch.Tensor] = None,
                     context_augmentation: Optional[torch.Tensor] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of pairs from its search images and drawn parameters.

    Args:
        search (torch.Tensor): (B, 3, S, S) search images, uint8 or float
            BGR (as the shipped pipelines load them).
        corners (torch.Tensor): (B, K, 4, 2), as :func:`sample_exemplars`.
        context_size (int): m. exemplar_size (int): n.
        exemplar_augmentation (torch.Tensor, optional): (B, K, 14) each
            exemplar's photometric parameters and flip; None: none.
        context_augmentation (torch.Tensor, optional): (B, 14), or None.

    Returns:
        tuple: contexts (B, 3, m, m) and exemplars (B, K, 3, n, n), float
        BGR with integer grey levels, and the correlation maps (B, K, m, m)
        uint8. Exemplars are flipped after their augmentation; maps never.
    """
    search = search.float()
    batch, num = corners.shape[:2]
    exemplars = sample_exemplars(search, corners, context_size,
                                 exemplar_size).flatten(0, 1)
    context = resize_context(search, context_size)
    if exemplar_augmentation is not None:
        exemplars = augment(exemplars, exemplar_augmentation.flatten(0, 1))
    if context_augmentation is not None:
        context = augment(context, context_augmentation)
    exemplars = exemplars.reshape(batch, num, *exemplars.shape[1:])
    maps = rasterize_correlation_maps(corners, context_size)
    return context, exemplars, maps


def give_rows(samples: list, tensors: dict) -> None:
    """Every data sample gets its row (a view) of each (B, ...) tensor."""
    for index, sample in enumerate(samples):
        sample.set_data({key: value[index] for key, value in tensors.items()})


def synthesise_batch(data: dict, params: dict) -> dict:
    """A collated batch of search images -> the batch of its pairs.

    Args:
        data (dict): ``inputs`` ``[search (B, 3, S, S)]`` and
            ``data_samples`` (their metainfo has ``img_shape`` (m, m) and
            ``exemplar_size`` n), as ``PackCIMInputs`` and
            ``default_collate`` give them.
        params (dict): the batch tensors of the drawn parameters, on the
            search images' device: ``exemplar_corners``,
            ``exemplar_flipped``, ``exemplar_augmentation`` and, when drawn,
            ``context_augmentation``.

    Returns:
        dict: ``inputs`` ``[context (B, 3, m, m), exemplar_0 (B, 3, n, n),
        ...]`` float BGR with integer grey levels, and the data samples,
        each given its rows of ``params`` and its ``corr_maps`` (K, m, m)
        uint8.
    """
    samples = data['data_samples']
    context, exemplars, maps = synthesise_pairs(
        data['inputs'][0], params['exemplar_corners'],
        samples[0].metainfo['img_shape'][0],
        samples[0].metainfo['exemplar_size'],
        exemplar_augmentation=params.get('exemplar_augmentation'),
        context_augmentation=params.get('context_augmentation'))
    give_rows(samples, dict(params, corr_maps=maps))
    return dict(inputs=[context, *exemplars.unbind(1)], data_samples=samples)
