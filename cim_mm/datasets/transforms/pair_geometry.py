"""The exemplar geometry of a CIM pair, drawn analytically
(``DrawCorrelationalPair``).

Coordinates: ``(x, y)``, x to the right, y down; the context square is
``[0, m] x [0, m]`` (see ``draw_correlational_pair``).
"""
from typing import Tuple

import numpy as np


def draw_exemplar_corners(context_size: int, num_exemplars: int,
                          max_tries: int, scale_range: Tuple[float, float],
                          ratio_range: Tuple[float, float],
                          rotation_range: Tuple[float, float],
                          exemplar_region: str) -> np.ndarray:
    """Draw K exemplar rectangles in the context square (numpy's global
    RNG: angles, then (r0, r1), then centres).

    Each: angle ``alpha ~ U(rotation_range)`` degrees, a box of area
    ``r0 * m**2`` (``r0 ~ U(scale_range)``) and shape ``r1 = h / w``
    (log-uniform in ``ratio_range``); with ``'enclosing'`` the exemplar is
    the rectangle at ``alpha`` around that box, with ``'exact'`` the box
    turned by ``alpha``. The first of ``max_tries`` draws that fits inside
    the context at that angle is kept, else the last one shrunk until it
    fits; the centre is uniform among the positions that fit.

    Returns:
        np.ndarray: K x 4 x 2 float32 corners (top-left, top-right,
        bottom-right, bottom-left of the exemplar image), in ``[0, m]``.
    """
    m, k, tries = context_size, num_exemplars, max_tries
    # One angle per exemplar, `tries` draws of (r0, r1) per exemplar.
    alpha = np.deg2rad(np.random.uniform(*rotation_range, size=(k, 1)))
    r0 = np.random.uniform(*scale_range, size=(k, tries))
    r1 = np.exp(np.random.uniform(*np.log(ratio_range), size=(k, tries)))
    width, height = m * np.sqrt(r0 / r1), m * np.sqrt(r0 * r1)
    cos, sin = np.abs(np.cos(alpha)), np.abs(np.sin(alpha))
    if exemplar_region == 'enclosing':
        # The rectangle at angle alpha around the axis-aligned box.
        width, height = (width * cos + height * sin,
                         width * sin + height * cos)
    # Half extents of the rotated rectangle's axis-aligned bounding box.
    half = np.stack([width * cos + height * sin,
                     width * sin + height * cos], -1) / 2
    size = np.stack([width, height], -1)  # k x tries x 2
    # First draw that fits, else the last one shrunk until it just fits.
    fits = (half <= m / 2).all(-1)
    pick = (np.arange(k), np.where(fits.any(1), fits.argmax(1), tries - 1))
    shrink = np.minimum(1, m / 2 / half[pick].max(1, keepdims=True))
    size, half = size[pick] * shrink, half[pick] * shrink  # k x 2
    centre = np.random.uniform(half, m - half)

    # Exemplar x axis along (cos, sin), y axis along (-sin, cos); y down.
    axis_x = np.hstack([np.cos(alpha), np.sin(alpha)]) * size[:, :1]
    axis_y = np.hstack([-np.sin(alpha), np.cos(alpha)]) * size[:, 1:]
    top_left = centre - (axis_x + axis_y) / 2
    corners = np.stack([
        top_left, top_left + axis_x, top_left + axis_x + axis_y,
        top_left + axis_y
    ], 1)
    # Clipping absorbs rounding only. The float32 corners are the output
    # and, exactly, the geometry the exemplars and maps are built from.
    return np.clip(corners, 0, m).astype(np.float32)
