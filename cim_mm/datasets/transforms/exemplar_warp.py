"""One exemplar resampled from the source image by one affine warp.

Coordinates as in ``correlational_crop``: ``(x, y)`` continuous, pixel
``[i, j]`` covers ``[j, j + 1) x [i, i + 1)``. Maps between the context,
the source and OpenCV's pixel indices are homogeneous 3 x 3 matrices,
composed into the one affine matrix that ``cv2.warpAffine`` samples with.
"""
import cv2
import numpy as np

# Exemplar anti-aliasing: at most this many warped samples per exemplar pixel
# along each axis (see ``CorrelationalCrop``).
MAX_SUPERSAMPLING = 3

# Homogeneous 3 x 3 maps between pixel indices (OpenCV's convention) and the
# continuous coordinates above.
_CONTINUOUS_FROM_INDEX = np.array([[1, 0, .5], [0, 1, .5], [0, 0, 1]])
_INDEX_FROM_CONTINUOUS = np.array([[1, 0, -.5], [0, 1, -.5], [0, 0, 1]])


def source_from_context(box: tuple, flip: bool,
                        context_size: int) -> np.ndarray:
    """3 x 3: context coordinates -> source coordinates, for the context
    made from the search crop ``box = (x0, y0, w, h)`` (source pixels),
    flipped horizontally if ``flip``."""
    x0, y0, w, h = box
    m = context_size
    sx, sy = w / m, h / m
    return np.array([[-sx if flip else sx, 0, x0 + w if flip else x0],
                     [0, sy, y0], [0, 0, 1]])


def warp_exemplar(img: np.ndarray, src_from_context: np.ndarray,
                  corners: np.ndarray, size: int,
                  interpolation: int) -> np.ndarray:
    """Resample one rectangle (4 x 2 context corners) of ``img`` to size x
    size (x 3).

    Along each exemplar axis with r > 1 source pixels per exemplar pixel,
    ``k = min(ceil(r), MAX_SUPERSAMPLING)`` bilinear samples per exemplar
    pixel, block-averaged; otherwise one sample with ``interpolation`` (an
    OpenCV flag).
    """
    n = size
    axes = np.stack([corners[1] - corners[0], corners[3] - corners[0]], 1)
    # Source pixels per exemplar pixel along the exemplar's x and y.
    extent = np.linalg.norm(src_from_context[:2, :2] @ axes, axis=0) / n
    # (The epsilon keeps an exact 1:1 scale at one sample.)
    kx, ky = np.clip(np.ceil(extent - 1e-6), 1,
                     MAX_SUPERSAMPLING).astype(int)
    # Warp pixel index -> continuous -> context -> source pixel index.
    context_from_warp = np.eye(3)
    context_from_warp[:2, :2] = axes / [n * kx, n * ky]
    context_from_warp[:2, 2] = corners[0]
    matrix = (_INDEX_FROM_CONTINUOUS @ src_from_context
              @ context_from_warp @ _CONTINUOUS_FROM_INDEX)
    supersampled = kx > 1 or ky > 1
    # Box-averaged samples need no smooth kernel: bilinear is enough.
    exemplar = cv2.warpAffine(
        img,
        matrix[:2], (n * kx, n * ky),
        flags=(cv2.INTER_LINEAR if supersampled else interpolation)
        | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE)
    if supersampled:
        # Exact block means (integer factors); in float because OpenCV's
        # uint8 2 x 2 path rounds halves up (a +0.125 grey-level bias).
        exemplar = cv2.resize(
            exemplar.astype(np.float32), (n, n),
            interpolation=cv2.INTER_AREA).round().astype(np.uint8)
    return exemplar
