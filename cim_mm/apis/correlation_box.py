"""The model-free parts of one-shot localisation (NumPy / OpenCV).

A correlation map to a box and a score, a query box to a crop, reading and
resizing images, the sizes of a config, the overlay picture.

Boxes are ``[x0, y0, x1, y1]`` in pixel edges of the input image: pixel
``[i, j]`` covers ``[j, j + 1) x [i, i + 1)``, so a region spanning columns
10..19 has ``x0 = 10``, ``x1 = 20`` (the convention of ``--box`` in
``tools/infer_correlation.py``).
"""
import math
import os.path as osp
from collections.abc import Mapping
from typing import List, NamedTuple, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np

__all__ = [
    'MapRegion', 'check_threshold', 'resize_map', 'largest_region',
    'crop_box', 'read_bgr', 'resize_square', 'correlation_sizes',
    'draw_overlay'
]

# The pair transform, and the names it had in the configs that checkpoints
# written before carry (read for their sizes only).
_CROP_TYPES = ('DrawCorrelationalPair', 'CorrelationalCrop',
               'CorrelationalPairParams')
_DEFAULT_SIZES = (160, 64)  # DrawCorrelationalPair's defaults


class MapRegion(NamedTuple):
    """The predicted region of a correlation map.

    Attributes:
        box (list[int] | None): ``[x0, y0, x1, y1]`` bounding box (pixel
            edges) of the largest 8-connected region above the threshold;
            None when no pixel is above it.
        score (float | None): The mean probability of that region's pixels
            (in ``(threshold, 1]``); None when there is no region.
        area (int): The region's number of pixels (0 when there is none).
        peak (float): The largest probability of the whole map.
    """
    box: Optional[List[int]]
    score: Optional[float]
    area: int
    peak: float


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float in [0, 1], or a ValueError naming it."""
    threshold = float(threshold)
    if not 0 <= threshold <= 1:
        raise ValueError(f'threshold must be a probability in [0, 1] (the '
                         f'sigmoid of the map), got {threshold}.')
    return threshold


def resize_map(prob: np.ndarray, width: int, height: int) -> np.ndarray:
    """(h, w) probabilities -> (height, width) float32 in [0, 1].

    Bilinear (``cv2.INTER_LINEAR``, pixel centres aligned): the map of the
    square context is stretched back to the input's own width and height.
    """
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2:
        raise ValueError(f'resize_map needs an (h, w) map, got shape '
                         f'{prob.shape}.')
    if prob.shape != (height, width):
        prob = cv2.resize(prob, (int(width), int(height)),
                          interpolation=cv2.INTER_LINEAR)
    return np.clip(prob, 0, 1)


def largest_region(prob: np.ndarray, threshold: float = 0.5) -> MapRegion:
    """The largest connected region of ``prob > threshold``.

    Connectivity is 8 (``cv2.connectedComponentsWithStats``); of regions of
    equal area, the first in raster order (the one whose top-most, then
    left-most pixel comes first) wins.

    Args:
        prob (np.ndarray): (H, W) probabilities in [0, 1].
        threshold (float): Pixels strictly above it are foreground.
            Defaults to 0.5.

    Returns:
        MapRegion: box (pixel edges of ``prob``), score (mean probability
        inside the region), area and the map's peak.
    """
    threshold = check_threshold(threshold)
    prob = np.asarray(prob, dtype=np.float32)
    peak = float(prob.max()) if prob.size else 0.0
    mask = (prob > threshold).astype(np.uint8)
    if not mask.any():
        return MapRegion(None, None, 0, peak)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask, connectivity=8)
    # label 0 is the background; np.argmax takes the lowest label on ties,
    # and OpenCV numbers regions in raster order of their first pixel.
    label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = (int(v) for v in stats[label])
    score = float(prob[labels == label].mean())
    return MapRegion([x, y, x + w, y + h], score, area, peak)


def crop_box(box: Sequence[float], width: int, height: int) -> List[int]:
    """The whole-pixel crop ``[x0, y0, x1, y1]`` covering a query box.

    Args:
        box (Sequence[float]): ``[x0, y0, x1, y1]`` in pixel edges of an
            image of ``width`` x ``height`` pixels.

    Returns:
        list[int]: ``floor`` of the top-left and ``ceil`` of the
        bottom-right corner: the smallest pixel rectangle covering ``box``.

    Raises:
        ValueError: not 4 finite numbers, empty (``x1 <= x0`` or ``y1 <=
            y0``), or not inside ``[0, width] x [0, height]``.
    """
    values = list(box)
    if len(values) != 4 or not all(
            isinstance(v, (int, float, np.number)) and math.isfinite(v)
            for v in values):
        raise ValueError(f'A box is 4 finite numbers X0 Y0 X1 Y1, got '
                         f'{box!r}.')
    x0, y0, x1, y1 = (float(v) for v in values)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(
            f'The box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] is empty: it needs '
            'X0 < X1 and Y0 < Y1 (top-left, then bottom-right corner, in '
            'pixels).')
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(
            f'The box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] is not inside the '
            f'image ({width} x {height} pixels): it needs 0 <= X0 < X1 <= '
            f'{width} and 0 <= Y0 < Y1 <= {height}.')
    return [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]


def read_bgr(image, what: str) -> np.ndarray:
    """A path or an array -> H x W x 3 uint8 BGR (mmcv's convention)."""
    if isinstance(image, str) and not osp.isfile(image):
        raise FileNotFoundError(f'{what} not found: {image}')
    img = mmcv.imread(image)
    if img is None:
        raise ValueError(f'Cannot decode the {what} {image} as an image.')
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f'The {what} must be uint8, got {img.dtype}.')
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    elif img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'The {what} must be H x W (x 1, 3 or 4), got '
                         f'shape {img.shape}.')
    return np.ascontiguousarray(img)


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size as DrawCorrelationalPair resizes its search
    image: INTER_AREA when both sides shrink, else bicubic."""
    shrinking = img.shape[0] >= size and img.shape[1] >= size
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA
                      if shrinking else cv2.INTER_CUBIC)


def correlation_sizes(cfg: Mapping) -> Tuple[int, int]:
    """``(context_size, exemplar_size)`` of the first pair transform
    (``DrawCorrelationalPair``, or a removed one in an older config) in the
    config's train (then val, test) dataloader, nested dataset wrappers
    included."""

    def search(node):
        if isinstance(node, Mapping):
            if node.get('type') in _CROP_TYPES or 'context_size' in node:
                return (int(node.get('context_size', _DEFAULT_SIZES[0])),
                        int(node.get('exemplar_size', _DEFAULT_SIZES[1])))
            nodes = node.values()
        elif isinstance(node, (list, tuple)):
            nodes = node
        else:
            return None
        for child in nodes:
            sizes = search(child)
            if sizes:
                return sizes
        return None

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        sizes = search(cfg.get(loader))
        if sizes:
            return sizes
    raise ValueError(
        'The config has no DrawCorrelationalPair in its dataloaders, so the context and exemplar sizes are unknown: '
        'pass context_size= and exemplar_size= to CorrelationInferencer.')


def draw_overlay(image: np.ndarray, prob: np.ndarray, exemplar: np.ndarray,
                 box: Optional[Sequence[int]] = None,
                 score: Optional[float] = None,
                 query_box: Optional[Sequence[int]] = None) -> np.ndarray:
    """The image with the map as a heat overlay (opacity 0.6 x probability),
    the predicted box (green, with its score) and the query box (white),
    and the exemplar as the model saw it (n x n pixels, enlarged) in a
    column on the right.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR.
        prob (np.ndarray): (H, W) probabilities.
        exemplar (np.ndarray): (n, n, 3) uint8 BGR.

    Returns:
        np.ndarray: (H, W + s + 2 * pad, 3) uint8 BGR.
    """
    h, w = image.shape[:2]
    heat = cv2.applyColorMap(np.round(prob * 255).astype(np.uint8),
                             cv2.COLORMAP_JET).astype(np.float32)
    alpha = 0.6 * prob[..., None]
    canvas = np.round(image * (1 - alpha) + heat * alpha).astype(np.uint8)
    thick = max(1, round(min(h, w) / 150))
    font = max(0.35, min(h, w) / 600)
    if query_box is not None:
        cv2.rectangle(canvas, tuple(query_box[:2]),
                      (query_box[2] - 1, query_box[3] - 1), (255, 255, 255),
                      thick)
    if box is not None:
        cv2.rectangle(canvas, tuple(box[:2]), (box[2] - 1, box[3] - 1),
                      (0, 255, 0), thick + 1)
        text = f'{score:.2f}'
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX,
                                         font, thick)
        # above the box when there is room, else inside its top-left corner
        y = box[1] - thick - 2 if box[1] > th + base + thick + 2 else (
            box[1] + th + thick + 2)
        x = min(box[0], max(0, w - tw))
        cv2.rectangle(canvas, (x, y - th - 1), (x + tw, y + base - 1),
                      (0, 0, 0), -1)
        cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font,
                    (0, 255, 0), thick, cv2.LINE_AA)
    side = min(h, max(64, w // 4))
    pad = max(2, side // 16)
    column = np.full((h, side + 2 * pad, 3), 40, np.uint8)
    column[:side, pad:pad + side] = cv2.resize(  # its pixels, as the model
        exemplar, (side, side), interpolation=cv2.INTER_NEAREST)
    return np.concatenate([canvas, column], axis=1)
