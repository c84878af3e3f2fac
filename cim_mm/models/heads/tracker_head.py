"""What the tracker heads of the paper's Table 4 share: their interface to
CIM and the targets they derive from the exemplar corners.

Coordinates as in ``DrawCorrelationalPair``: ``(x, y)`` in context pixels, the
context is ``[0, m] x [0, m]``. A grid of cells (a score map, the token
grid) lies on the context with cell ``j`` covering ``[origin + stride * j,
origin + stride * (j + 1))`` along each axis; a cell's label is decided at
its centre.
"""
from typing import List, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample

from ..utils.correlation_maps import rasterize_correlation_maps


class TrackerHead(BaseModule):
    """Base class of the heads that train CIM's pairs as a tracker (Table 4).

    Unlike :class:`CorrelationHead` (a loss of logits against maps), a
    tracker head has mmpretrain's head interface: :meth:`loss` takes the
    neck's output and the data samples and returns a dict of losses;
    :meth:`predict` returns (B, K, m, m) correlation-map probabilities, so
    that ``CIM.predict`` and ``CorrelationIoU`` work for trackers too. The
    targets come from each sample's ``exemplar_corners`` (K, 4, 2) and the
    context side m (metainfo ``img_shape``), which the pair pipeline
    (``DrawCorrelationalPair``) packs.
    """

    def loss(self, outputs, data_samples: List[DataSample]) -> dict:
        raise NotImplementedError

    def predict(self, outputs,
                data_samples: List[DataSample]) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def context_size(cls, data_samples: List[DataSample]) -> int:
        """The square context's side m, from the samples' ``img_shape``
        (all ``predict`` needs: the corners are unknown at inference)."""
        shape = data_samples[0].metainfo.get('img_shape') if (
            data_samples) else None
        if shape is None or shape[0] != shape[1]:
            raise KeyError(
                f'{cls.__name__}: the data samples need the square context '
                'shape as metainfo img_shape (PackCIMInputs packs it), got '
                f'{shape!r}.')
        return int(shape[0])

    @classmethod
    def exemplar_corners(
            cls, data_samples: List[DataSample]) -> Tuple[torch.Tensor, int]:
        """(B, K, 4, 2) float32 corners and the context side m."""
        if not data_samples or any('exemplar_corners' not in s
                                   for s in data_samples):
            raise KeyError(
                f'{cls.__name__}: every data sample needs exemplar_corners; '
                "pack them with dict(type='PackCIMInputs') (default "
                'algorithm_keys).')
        corners = torch.stack([s.exemplar_corners for s in data_samples])
        return corners.float(), cls.context_size(data_samples)


def enclosing_boxes(corners: torch.Tensor) -> torch.Tensor:
    """(..., 4, 2) corners -> (..., 4) enclosing axis-aligned boxes
    ``(x0, y0, x1, y1)``."""
    return torch.cat([corners.amin(-2), corners.amax(-2)], -1)


def region_maps(corners: torch.Tensor, size: int, origin: float = 0.,
                stride: float = 1.) -> torch.Tensor:
    """(..., 4, 2) corners -> (..., size, size) float maps on a grid of
    cells: 1 where a cell centre lies in the rotated rectangle."""
    maps = rasterize_correlation_maps((corners - origin) / stride, size)
    return maps.float()


def box_maps(boxes: torch.Tensor, size: int, origin: float = 0.,
             stride: float = 1.) -> torch.Tensor:
    """(..., 4) boxes ``(x0, y0, x1, y1)`` -> (..., size, size) float maps
    on a grid of cells: 1 where a cell centre lies in the (closed) box."""
    centres = origin + stride * (
        torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5)
    x0, y0, x1, y1 = (v[..., None] for v in boxes.unbind(-1))
    inside_x = (centres >= x0) & (centres <= x1)  # (..., size)
    inside_y = (centres >= y0) & (centres <= y1)
    return (inside_y[..., :, None] & inside_x[..., None, :]).float()


def centred_grid_origin(context_size: int, stride: float, size: int) -> float:
    """Origin of a ``size``-cell grid centred on the context: the score map
    of a 'valid' correlation (cell ``u`` is the window whose centre is
    ``m / 2 + stride * (u - (size - 1) / 2)``)."""
    return (context_size - stride * size) / 2
