"""Draw a CIM pair in the worker: the search image and every parameter.

Coordinates. A point is ``(x, y)``: x to the right, y down, in continuous
pixel units where pixel ``[i, j]`` (row i, column j) of an image covers
``[j, j + 1) x [i, i + 1)`` and has its centre at ``(j + 0.5, i + 0.5)``.
The context square is ``[0, m] x [0, m]`` (m = ``context_size``); the
search image ``[0, S]^2`` shows the same content (the context is the
search image resized).
"""
import math
from typing import Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from .exemplar_photometric_params import (FLIP, RELEASE_AUGMENTATION,
                                          check_augmentation,
                                          draw_exemplar_photometric)
from .pair_geometry import (check_int, check_prob, check_range,
                            draw_exemplar_corners)

_INTERPOLATIONS = {'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}
#: Photometric draws that change nothing (the exemplar flip aside).
_NO_AUGMENTATION = dict(jitter_prob=0., gray_prob=0., blur_prob=0.,
                        solarize_prob=0.)


def _refuse(unknown: dict) -> None:
    """Name the replacement of ``CorrelationalCrop``'s pixel arguments."""
    for old in ('exemplar_transforms', 'context_transforms'):
        if old in unknown:
            new = old.replace('transforms', 'augmentation')
            raise ValueError(
                f'DrawCorrelationalPair takes {new} (a dict of '
                f'{sorted(RELEASE_AUGMENTATION)}, or None), not {old}; the '
                f"release's recipe is the default exemplar_augmentation.")
    if unknown:
        raise TypeError(f'DrawCorrelationalPair got unexpected arguments '
                        f'{sorted(unknown)}.')


@TRANSFORMS.register_module()
class DrawCorrelationalPair(BaseTransform):
    """Draw a CIM exemplar-context pair: its search image and parameters.

    The CIM cropping strategy (Li, Xie & Loy, "Correlational Image Modeling
    for Self-Supervised Visual Pre-Training", CVPR 2023,
    https://arxiv.org/abs/2303.12670), as in the authors' release. This
    transform decodes nothing and builds no pair pixels: the context, the
    exemplars, their augmentation and the maps are made from its output by
    one batched torch function,
    :func:`cim_mm.models.utils.pair_synthesis.synthesise_batch`, in
    ``CIMDataPreprocessor`` (on the model's device) or, with
    ``collate_fn=dict(type='pair_synthesis_collate')``, in the DataLoader
    workers.

    1. Search image: a random resized crop of the input (area fraction
       ``search_scale``, aspect ``search_ratio``, mmpretrain's
       ``RandomResizedCrop`` sampler), resized to ``search_size`` squared
       (OpenCV ``INTER_AREA`` when both sides shrink, else
       ``interpolation``) and flipped horizontally with p=0.5.
    2. K exemplar rectangles in the context square, each independently:
       angle ``alpha ~ U(rotation_range)`` degrees, a box of area
       ``r0 * m**2`` with ``r0 ~ U(scale_range)`` and shape ``r1 = h / w``
       log-uniform in ``ratio_range``. With ``exemplar_region='enclosing'``
       (the release) the exemplar is the rectangle at angle ``alpha`` that
       encloses that box; with ``'exact'`` (the paper's wording) it is the
       box itself turned by ``alpha``. Its centre is uniform among the
       positions that keep all four corners inside the context. If it does
       not fit, ``(r0, r1)`` is redrawn up to ``max_tries`` times, then the
       last draw is shrunk (same shape and angle) until it just fits. For
       ``alpha > 0`` the exemplar shows the context turned
       counter-clockwise (like ``PIL.Image.rotate(alpha)``).
    3. Each exemplar flipped horizontally with ``exemplar_flip_prob`` (after
       its augmentation; the map is not flipped).
    4. Each exemplar's photometric augmentation (torchvision's definitions,
       :func:`draw_exemplar_photometric`): ``exemplar_augmentation`` in its
       words, by default the release's recipe
       (:data:`RELEASE_AUGMENTATION`: colour jitter 0.4/0.4/0.2/0.1 with
       p=0.8 in a random order, grayscale p=0.2, blur sigma 0.1-2 p=0.5,
       solarize p=0.2); None for none. ``context_augmentation`` (None by
       default, the paper's choice, Table 1d) augments the context with a
       draw of its own (no flip: the search crop's flip is the context's).

    Randomness: the search crop and the geometry from numpy's global RNG
    (seeded per sample by ``LoadCheckedImage`` from the sampler's key), then
    one 64-bit draw from it seeds the ``numpy.random.Generator`` of the
    photometric values.

    **Required Keys:** ``img`` (H x W x 3 uint8 BGR, as ``LoadImageFromFile``
    gives; H x W, H x W x 1 and H x W x 4 are converted, alpha dropped).

    **Added Keys:** ``search`` (S x S x 3 uint8 BGR), ``exemplar_corners``
    (K x 4 x 2 float32: the ``(x, y)`` context coordinates of the exemplar
    image's top-left, top-right, bottom-right and bottom-left corners,
    before the flip; exemplar pixel ``[b, a]`` samples ``c0 + (a + .5) / n *
    (c1 - c0) + (b + .5) / n * (c3 - c0)``), ``exemplar_flipped`` (K bool),
    ``exemplar_augmentation`` (K x 14 float32, the layout of
    :mod:`.exemplar_photometric_params`, its flip column equal to
    ``exemplar_flipped``), ``context_augmentation`` (14 float32, only when
    configured), ``exemplar_size`` (n).
    **Deleted Keys:** ``img``. **Modified Keys:** ``img_shape`` = (m, m).

    Args:
        context_size (int): Side m of the square context. Defaults to 160.
        exemplar_size (int): Side n of the square exemplars. Defaults to 64.
        num_exemplars (int): Exemplars K per context. Defaults to 6.
        search_size (int): Side S of the search image. Defaults to 224.
        search_scale (tuple[float]): Area fraction of the input covered by
            the search crop, ``0 < lo <= hi <= 1``. Defaults to (0.5, 1.0).
        search_ratio (tuple[float]): Aspect (w / h) range of the search crop.
            Defaults to (3/4, 4/3).
        scale_range (tuple[float]): Range of r0, ``0 < lo <= hi <= 1``.
            Defaults to (0.05, 0.48).
        ratio_range (tuple[float]): Range of r1 = h / w (log-uniform).
            Defaults to (1/3, 3).
        rotation_range (tuple[float]): Range of alpha in degrees, within
            [-180, 180]. Defaults to (-45, 45).
        exemplar_flip_prob (float): Defaults to 0.5.
        exemplar_augmentation (dict, optional): keyword arguments of
            :func:`draw_exemplar_photometric` (missing ones take the
            release's values); None: no photometric augmentation.
        context_augmentation (dict, optional): likewise for the context;
            None (default): none.
        max_tries (int): Draws of the search crop (then mmpretrain's central
            crop) and of each exemplar's (r0, r1) before falling back.
            Defaults to 10.
        interpolation (str): 'bicubic' or 'bilinear', the search image's
            kernel when it enlarges. Defaults to 'bicubic'.
        min_image_size (int): Smallest accepted input side in pixels.
            Defaults to 32.
        exemplar_region (str): ``'enclosing'`` (the release; maps cover
            ~31% of the context on average) or ``'exact'``. Defaults to
            'enclosing'.
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
                 exemplar_augmentation: Optional[dict] = RELEASE_AUGMENTATION,
                 context_augmentation: Optional[dict] = None,
                 max_tries: int = 10,
                 interpolation: str = 'bicubic',
                 min_image_size: int = 32,
                 exemplar_region: str = 'enclosing',
                 **unknown) -> None:
        _refuse(unknown)
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
        self.exemplar_augmentation = None if exemplar_augmentation is None \
            else check_augmentation('exemplar_augmentation',
                                    exemplar_augmentation)
        self.context_augmentation = None if context_augmentation is None \
            else check_augmentation('context_augmentation',
                                    context_augmentation)
        self.max_tries = max_tries
        self.interpolation = interpolation
        self.min_image_size = min_image_size
        self.exemplar_region = exemplar_region
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

    def _draw_photometric(self, flip_exemplars: np.ndarray) -> dict:
        """The exemplars' (and the context's) photometric parameters, from
        a generator seeded by one draw of numpy's global RNG."""
        rng = np.random.default_rng(np.random.randint(2**63, dtype=np.int64))
        exemplar = draw_exemplar_photometric(
            rng, self.num_exemplars,
            **(self.exemplar_augmentation or _NO_AUGMENTATION), flip_prob=0.)
        exemplar[:, FLIP] = flip_exemplars
        drawn = dict(exemplar_augmentation=exemplar)
        if self.context_augmentation is not None:
            drawn['context_augmentation'] = draw_exemplar_photometric(
                rng, 1, **self.context_augmentation, flip_prob=0.)[0]
        return drawn

    def _to_bgr(self, results: dict) -> np.ndarray:
        """Check the input and return it as H x W x 3 uint8."""
        img = results['img']
        where = results.get('img_path', 'the input image')
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            raise ValueError(
                f'DrawCorrelationalPair needs a uint8 image but got '
                f'{getattr(img, "dtype", type(img))} for {where}; load it '
                f'with LoadImageFromFile(to_float32=False) or convert it.')
        if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.ndim == 3 and img.shape[2] == 4:
            img = np.ascontiguousarray(img[..., :3])
        elif img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f'DrawCorrelationalPair needs an H x W (x 1, 3 or 4) image '
                f'but got shape {img.shape} for {where}.')
        if min(img.shape[:2]) < self.min_image_size:
            raise ValueError(
                f'Image {where} is {img.shape[1]} x {img.shape[0]} pixels; '
                f'DrawCorrelationalPair needs both sides >= min_image_size='
                f'{self.min_image_size}. Remove it from the dataset or lower '
                f'min_image_size.')
        return img

    def _resized_crop(self, img: np.ndarray, box: tuple,
                      flip: bool) -> np.ndarray:
        """The search crop ``box`` of ``img`` resized to S x S (x 3),
        flipped if ``flip``."""
        x0, y0, w, h = box
        size = self.search_size
        shrinking = w >= size and h >= size
        resized = cv2.resize(
            img[y0:y0 + h, x0:x0 + w], (size, size),
            interpolation=cv2.INTER_AREA
            if shrinking else _INTERPOLATIONS[self.interpolation])
        return np.ascontiguousarray(resized[:, ::-1] if flip else resized)

    def transform(self, results: dict) -> dict:
        img = self._to_bgr(results)
        box, flip_context, corners, flip_exemplars = self._sample_params(img)
        results.update(self._draw_photometric(flip_exemplars))
        results.pop('img')
        results['search'] = self._resized_crop(img, box, flip_context)
        results['exemplar_corners'] = corners
        results['exemplar_flipped'] = flip_exemplars
        results['img_shape'] = (self.context_size, self.context_size)
        results['exemplar_size'] = self.exemplar_size
        return results

    def __repr__(self) -> str:
        names = ('context_size', 'exemplar_size', 'num_exemplars',
                 'search_size', 'search_scale', 'search_ratio', 'scale_range',
                 'ratio_range', 'rotation_range', 'exemplar_flip_prob',
                 'exemplar_augmentation', 'context_augmentation', 'max_tries',
                 'interpolation', 'min_image_size', 'exemplar_region')
        args = ', '.join(f'{name}={getattr(self, name)!r}' for name in names)
        return f'{self.__class__.__name__}({args})'
