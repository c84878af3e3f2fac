"""Exemplar-context pairs and their correlation maps (CIM, CVPR 2023).

Coordinates. A point is ``(x, y)``: x to the right, y down, in continuous
pixel units where pixel ``[i, j]`` (row i, column j) of an image covers
``[j, j + 1) x [i, i + 1)`` and has its centre at ``(j + 0.5, i + 0.5)``.
The context square is ``[0, m] x [0, m]`` (m = ``context_size``).

Geometry is sampled analytically and every output is resampled once from the
source image (no rotated copies of the whole image, no padding pixels): a
sample takes a few milliseconds on one core, against ~0.25 s for the authors'
PIL pipeline (``tools/analysis_tools/benchmark_pairs.py``).
"""
import math
from typing import Callable, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from .exemplar_warp import MAX_SUPERSAMPLING  # noqa: F401 (kept here)
from .exemplar_warp import source_from_context, warp_exemplar
from .pair_geometry import (check_int, check_prob, check_range,
                            draw_exemplar_corners)

# The CIM release's exemplar augmentation (torchvision, on RGB PIL images).
# RandomGrayscale's weights are ITU-R 601 luma in BGR order, as PIL's
# ``convert('L')``. Configs take it from ``exemplar_augmentation`` in
# configs/_base_/datasets/imagenet_cim.py; a test keeps the two equal.
DEFAULT_EXEMPLAR_TRANSFORMS = (
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='FastColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.299)),
    dict(
        type='FastGaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
    dict(type='Solarize', thr=128, prob=0.2),
)

_INTERPOLATIONS = {'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}


def _build_pipeline(name: str, transforms) -> Compose:
    """Compose transform configs, looked up in mmpretrain's scope."""
    if not isinstance(transforms, Sequence) or isinstance(transforms, str):
        raise ValueError(f'{name} must be a list of transform configs or '
                         f'callables, got {transforms!r}.')
    return Compose([
        TRANSFORMS.build({
            '_scope_': 'mmpretrain',
            **t
        }) if isinstance(t, dict) else t for t in transforms
    ])


@TRANSFORMS.register_module()
class CorrelationalCrop(BaseTransform):
    """Crop a context and K exemplars with their correlation maps.

    The CIM cropping strategy (Li, Xie & Loy, "Correlational Image Modeling
    for Self-Supervised Visual Pre-Training", CVPR 2023,
    https://arxiv.org/abs/2303.12670), as in the authors' release:

    1. Search image: a random resized crop of the input (area fraction
       ``search_scale``, aspect ``search_ratio``, mmpretrain's
       ``RandomResizedCrop`` sampler), flipped horizontally with p=0.5. The
       context is that crop resized straight to ``context_size`` (the release
       goes through ``search_size`` first; the geometry is identical, so it
       is done in one resampling): OpenCV ``INTER_AREA`` when both sides
       shrink, else ``interpolation``.
    2. K exemplar rectangles in the context square, each independently:
       angle ``alpha ~ U(rotation_range)`` degrees, a box of area
       ``r0 * m**2`` with ``r0 ~ U(scale_range)`` and shape ``r1 = h / w``
       log-uniform in ``ratio_range``. With ``exemplar_region='enclosing'``
       (the release) the exemplar is the rectangle at angle ``alpha`` that
       encloses that box; with ``'exact'`` (the paper's wording) it is the
       box itself turned by ``alpha``. Its centre is uniform among the
       positions that keep all four corners inside the context (no padding).
       If it does not fit at that angle, ``(r0, r1)`` is redrawn up to
       ``max_tries`` times; the last draw is then shrunk (same shape and
       angle) until it just fits.
    3. Exemplar: the rectangle resampled to ``exemplar_size`` squared
       (aspect not kept) by one affine warp from the source image, the
       highest resolution available. When the source has r > 1 pixels per
       exemplar pixel along an axis, the warp takes ``k = min(ceil(r),
       MAX_SUPERSAMPLING)`` bilinear samples per exemplar pixel along it
       and averages each k x k block: the anti-aliasing the release gets
       from PIL (beyond r = 3 the samples are r / 3 source pixels apart).
       Otherwise (enlarging) the warp uses ``interpolation``.
    4. Correlation map: 1 exactly where a context pixel centre lies in the
       (closed) rectangle.
    5. ``exemplar_transforms`` run on each exemplar independently, then the
       exemplar is flipped horizontally with ``exemplar_flip_prob`` (the map
       is not: the model must match the mirrored exemplar);
       ``context_transforms`` run on the context.

    Rotation: for ``alpha > 0`` the exemplar shows the context content turned
    counter-clockwise by ``alpha`` (like ``PIL.Image.rotate(alpha)``).

    Randomness: the geometry is drawn from numpy's global RNG in
    :meth:`_sample_params`; mmpretrain's photometric transforms also use
    numpy, mmcv's ``RandomGrayscale`` uses Python's ``random``. mmengine seeds
    both (per worker), so seed both for reproducible samples.

    **Required Keys:** ``img`` (H x W x 3 uint8 BGR, as ``LoadImageFromFile``
    gives; H x W, H x W x 1 and H x W x 4 are converted, alpha dropped).

    **Deleted Keys:** ``img``.

    **Added Keys:**

    - ``context``: m x m x 3 uint8 (``context_size`` = m).
    - ``exemplars``: K x n x n x 3 uint8 (``exemplar_size`` = n).
    - ``corr_maps``: K x m x m uint8 in {0, 1}.
    - ``exemplar_corners``: K x 4 x 2 float32, the ``(x, y)`` context
      coordinates of the exemplar image's top-left, top-right, bottom-right
      and bottom-left corners (before the exemplar flip). Exemplar pixel
      ``[b, a]`` samples ``c0 + (a + .5) / n * (c1 - c0) + (b + .5) / n *
      (c3 - c0)``.
    - ``exemplar_flipped``: K bool.

    **Modified Keys:** ``img_shape`` = (m, m).

    Args:
        context_size (int): Side m of the square context. Defaults to 160.
        exemplar_size (int): Side n of the square exemplars. Defaults to 64.
        num_exemplars (int): Exemplars K per context. Defaults to 6.
        search_size (int): Side of the release's intermediate search image.
            No effect on this class's output (it resamples straight from the
            source). It takes effect in the device path only:
            :class:`CorrelationalPairParams` resizes the search crop to it
            and ``CIMDataPreprocessor`` samples the context and exemplars
            from that search image. Defaults to 224.
        search_scale (tuple[float]): Area fraction of the input covered by
            the search crop, ``0 < lo <= hi <= 1``. Defaults to (0.5, 1.0).
        search_ratio (tuple[float]): Aspect (w / h) range of the search crop.
            Defaults to (3/4, 4/3).
        scale_range (tuple[float]): Range of r0, the exemplar area over the
            context area, ``0 < lo <= hi <= 1``. Defaults to (0.05, 0.48).
        ratio_range (tuple[float]): Range of r1 = h / w (log-uniform).
            Defaults to (1/3, 3).
        rotation_range (tuple[float]): Range of alpha in degrees, within
            [-180, 180]. Defaults to (-45, 45).
        exemplar_flip_prob (float): Horizontal flip probability of each
            exemplar. Defaults to 0.5.
        exemplar_transforms (list[dict | callable]): Applied to each exemplar
            as ``{'img': exemplar}``. Defaults to the release's colour
            jitter, grayscale, blur and solarize
            (``DEFAULT_EXEMPLAR_TRANSFORMS``).
        context_transforms (list[dict | callable]): Applied to the context.
            Defaults to none (Table 1d: exemplar-only is best).
        max_tries (int): Draws of the search crop (then mmpretrain's central
            crop) and of each exemplar's (r0, r1) (then the shrink) before
            falling back. Defaults to 10.
        interpolation (str): 'bicubic' or 'bilinear': the kernel for
            enlarging, i.e. the context of a search crop smaller than m and
            exemplars that need no supersampling. Defaults to 'bicubic'.
        min_image_size (int): Smallest accepted input side in pixels.
            Defaults to 32.
        exemplar_region (str): ``'enclosing'`` (the release: the rotated
            rectangle enclosing the r0/r1 box; maps cover ~31% of the context
            on average with the default ranges) or ``'exact'`` (the rotated
            region itself has area ``r0 * m**2`` and shape ``r1``). The same
            for ``rotation_range=(0, 0)``. Defaults to 'enclosing'.
    """

    def __init__(self,
                 context_size: int = 160,
                 exemplar_size: int = 64,
                 num_exemplars: int = 6,
                 search_size: int = 224,
                 search_scale: Tuple[float, float] = (0.5, 1.0),
                 search_ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 scale_range: Tuple[float, float] = (0.05, 0.48),
                 ratio_range: Tuple[float, float] = (1. / 3., 3.),
                 rotation_range: Tuple[float, float] = (-45, 45),
                 exemplar_flip_prob: float = 0.5,
                 exemplar_transforms: Sequence[Union[dict, Callable]] = (
                     DEFAULT_EXEMPLAR_TRANSFORMS),
                 context_transforms: Sequence[Union[dict, Callable]] = (),
                 max_tries: int = 10,
                 interpolation: str = 'bicubic',
                 min_image_size: int = 32,
                 exemplar_region: str = 'enclosing') -> None:
        for name, value in [('context_size', context_size),
                            ('exemplar_size', exemplar_size),
                            ('num_exemplars', num_exemplars),
                            ('search_size', search_size),
                            ('max_tries', max_tries),
                            ('min_image_size', min_image_size)]:
            check_int(name, value)
        check_range('search_scale', search_scale, 0, 1, low_open=True)
        check_range('search_ratio', search_ratio, 0, math.inf, low_open=True)
        check_range('scale_range', scale_range, 0, 1, low_open=True)
        check_range('ratio_range', ratio_range, 0, math.inf, low_open=True)
        check_range(
            'rotation_range', rotation_range, -180, 180, low_open=False)
        check_prob('exemplar_flip_prob', exemplar_flip_prob)
        if exemplar_region not in ('enclosing', 'exact'):
            raise ValueError(f"exemplar_region must be 'enclosing' or 'exact', "
                             f'got {exemplar_region!r}.')
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(_INTERPOLATIONS)}, '
                             f'got {interpolation!r}.')

        self.context_size = context_size
        self.exemplar_size = exemplar_size
        self.num_exemplars = num_exemplars
        self.search_size = search_size
        self.search_scale = tuple(search_scale)
        self.search_ratio = tuple(search_ratio)
        self.scale_range = tuple(scale_range)
        self.ratio_range = tuple(ratio_range)
        self.rotation_range = tuple(rotation_range)
        self.exemplar_flip_prob = exemplar_flip_prob
        self.max_tries = max_tries
        self.interpolation = interpolation
        self.min_image_size = min_image_size
        self.exemplar_region = exemplar_region
        self.exemplar_pipeline = _build_pipeline('exemplar_transforms',
                                                 exemplar_transforms)
        self.context_pipeline = _build_pipeline('context_transforms',
                                                context_transforms)
        self._search_crop = RandomResizedCrop(
            search_size,
            crop_ratio_range=self.search_scale,
            aspect_ratio_range=self.search_ratio,
            max_attempts=max_tries)

    @cache_randomness
    def _sample_params(self, img: np.ndarray) -> tuple:
        """Draw all the geometry of one sample.

        Returns:
            tuple: the search crop ``(x0, y0, w, h)`` in source pixels,
            whether the context is flipped, the exemplar corners (K x 4 x 2
            float32, context coordinates) and the exemplar flips (K bool).
        """
        y0, x0, h, w = self._search_crop.rand_crop_params(img)
        flip_context = np.random.rand() < 0.5
        corners = draw_exemplar_corners(
            self.context_size, self.num_exemplars, self.max_tries,
            self.scale_range, self.ratio_range, self.rotation_range,
            self.exemplar_region)
        flip_exemplars = np.random.rand(
            self.num_exemplars) < self.exemplar_flip_prob
        return (x0, y0, w, h), flip_context, corners, flip_exemplars

    def _to_bgr(self, results: dict) -> np.ndarray:
        """Check the input and return it as H x W x 3 uint8."""
        img = results['img']
        where = results.get('img_path', 'the input image')
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            raise ValueError(
                f'CorrelationalCrop needs a uint8 image but got '
                f'{getattr(img, "dtype", type(img))} for {where}; load it '
                f'with LoadImageFromFile(to_float32=False) or convert it.')
        if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.ndim == 3 and img.shape[2] == 4:
            img = np.ascontiguousarray(img[..., :3])
        elif img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f'CorrelationalCrop needs an H x W (x 1, 3 or 4) image but '
                f'got shape {img.shape} for {where}.')
        if min(img.shape[:2]) < self.min_image_size:
            raise ValueError(
                f'Image {where} is {img.shape[1]} x {img.shape[0]} pixels; '
                f'CorrelationalCrop needs both sides >= min_image_size='
                f'{self.min_image_size}. Remove it from the dataset or lower '
                f'min_image_size.')
        return img

    def _resized_crop(self, img: np.ndarray, box: tuple, flip: bool,
                      size: int) -> np.ndarray:
        """Resize the search crop ``box`` of ``img`` to size x size (x 3),
        flipped if ``flip``: OpenCV ``INTER_AREA`` when both sides shrink,
        else ``interpolation``."""
        x0, y0, w, h = box
        shrinking = w >= size and h >= size
        resized = cv2.resize(
            img[y0:y0 + h, x0:x0 + w], (size, size),
            interpolation=cv2.INTER_AREA
            if shrinking else _INTERPOLATIONS[self.interpolation])
        return np.ascontiguousarray(resized[:, ::-1] if flip else resized)

    def _exemplar(self, img: np.ndarray, src_from_context: np.ndarray,
                  corners: np.ndarray) -> np.ndarray:
        """Resample one rectangle (4 x 2 context corners) to n x n (x 3)."""
        return warp_exemplar(img, src_from_context, corners,
                             self.exemplar_size,
                             _INTERPOLATIONS[self.interpolation])

    def _corr_maps(self, corners: np.ndarray) -> np.ndarray:
        """K x m x m uint8: 1 where a pixel centre is in the rectangle.

        Each rectangle is the intersection of two strips
        ``0 <= (p - c0) . e <= |e|^2`` (e = c1 - c0 and c3 - c0); on pixel
        row i each strip is an interval of x, so the map is a comparison of
        column indices against per-row bounds. The NumPy twin of
        ``models/utils/correlation_maps.py`` (the device path's): calling
        that torch version here costs 0.45 ms a sample instead of 0.19 ms;
        tests hold the two bit-identical.
        """
        m = self.context_size
        centres = np.arange(m) + 0.5
        lower = np.full((len(corners), m), -np.inf)
        upper = np.full((len(corners), m), np.inf)
        origin = corners[:, 0]
        for edge in (corners[:, 1] - origin, corners[:, 3] - origin):
            length2 = (edge**2).sum(1)[:, None]
            ex, ey = edge[:, :1], edge[:, 1:]
            # Strip condition on row centre y: ex * (x - x0) in [lo, hi].
            lo = -ey * (centres - origin[:, 1:])
            hi = lo + length2
            with np.errstate(divide='ignore', invalid='ignore'):
                x_at_lo = lo / ex + origin[:, :1]
                x_at_hi = hi / ex + origin[:, :1]
            # ex == 0: the strip holds whole rows (0 in [lo, hi]) or none.
            parallel, row_in = ex == 0, (lo <= 0) & (0 <= hi)
            lower = np.maximum(
                lower,
                np.where(parallel, np.where(row_in, -np.inf, np.inf),
                         np.where(ex > 0, x_at_lo, x_at_hi)))
            upper = np.minimum(
                upper,
                np.where(parallel, np.where(row_in, np.inf, -np.inf),
                         np.where(ex > 0, x_at_hi, x_at_lo)))
        # Column j is inside iff lower <= j + 0.5 <= upper.
        first = np.ceil(np.clip(lower - 0.5, -1, m)).astype(np.int16)
        last = np.floor(np.clip(upper - 0.5, -1, m)).astype(np.int16)
        columns = np.arange(m, dtype=np.int16)
        inside = (columns >= first[..., None]) & (columns <= last[..., None])
        return inside.view(np.uint8)

    def transform(self, results: dict) -> dict:
        img = self._to_bgr(results)
        box, flip_context, corners, flip_exemplars = self._sample_params(img)
        geometry = corners.astype(np.float64)
        m = self.context_size
        src_from_context = source_from_context(box, flip_context, m)

        context = self.context_pipeline({'img': self._resized_crop(
            img, box, flip_context, m)})['img']
        exemplars = np.stack(
            [self._exemplar(img, src_from_context, c) for c in geometry])
        for k, flip in enumerate(flip_exemplars):
            exemplar = self.exemplar_pipeline({'img': exemplars[k]})['img']
            exemplars[k] = exemplar[:, ::-1] if flip else exemplar

        results.pop('img')
        results['context'] = np.ascontiguousarray(context)
        results['exemplars'] = exemplars
        results['corr_maps'] = self._corr_maps(geometry)
        results['exemplar_corners'] = corners
        results['exemplar_flipped'] = flip_exemplars
        results['img_shape'] = (m, m)
        return results

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(context_size={self.context_size}, '
        repr_str += f'exemplar_size={self.exemplar_size}, '
        repr_str += f'num_exemplars={self.num_exemplars}, '
        repr_str += f'search_size={self.search_size}, '
        repr_str += f'search_scale={self.search_scale}, '
        repr_str += f'search_ratio={self.search_ratio}, '
        repr_str += f'scale_range={self.scale_range}, '
        repr_str += f'ratio_range={self.ratio_range}, '
        repr_str += f'rotation_range={self.rotation_range}, '
        repr_str += f'exemplar_flip_prob={self.exemplar_flip_prob}, '
        repr_str += f'exemplar_transforms={self.exemplar_pipeline}, '
        repr_str += f'context_transforms={self.context_pipeline}, '
        repr_str += f'max_tries={self.max_tries}, '
        repr_str += f'interpolation={self.interpolation!r}, '
        repr_str += f'min_image_size={self.min_image_size}, '
        repr_str += f'exemplar_region={self.exemplar_region!r})'
        return repr_str
