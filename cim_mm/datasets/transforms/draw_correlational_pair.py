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

from .argument_checks import check_int, check_prob, check_range
from .exemplar_photometric_params import (FLIP, NO_AUGMENTATION,
                                          RELEASE_AUGMENTATION,
                                          check_augmentation, draw_checked)
from .pair_geometry import draw_exemplar_corners

_INTERPOLATIONS = {'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}


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
    """Draw a CIM pair: its search image and every parameter, no pair pixels.

    The cropping of Correlational Image Modeling (Li, Xie & Loy, CVPR 2023,
    https://arxiv.org/abs/2303.12670) as in the authors' release. The
    context, exemplars and maps are built from this output by
    :func:`cim_mm.models.utils.pair_synthesis.synthesise_batch`, in
    ``CIMDataPreprocessor`` or ``pair_synthesis_collate`` (the pipeline:
    docs/development.md, "The pair pipeline").

    Drawn from numpy's global RNG (seeded per sample by ``LoadCheckedImage``):
    the search crop (mmpretrain's ``RandomResizedCrop`` sampler, resized to
    S x S, OpenCV ``INTER_AREA`` when both sides shrink, and flipped with
    p=0.5), K exemplar rectangles in the context
    (:func:`~.pair_geometry.draw_exemplar_corners`) and their flips
    (applied after the augmentation; maps are never flipped); then one
    64-bit draw seeds the generator of the photometric values
    (:func:`~.exemplar_photometric_params.draw_exemplar_photometric`).

    **Required Keys:** ``img`` (H x W x 3 uint8 BGR; H x W, x 1 and x 4
    are converted, alpha dropped).

    **Added Keys:** ``search`` (S x S x 3 uint8 BGR), ``exemplar_corners``
    (K x 4 x 2 float32 context coordinates ``(x, y)`` of the exemplar
    image's top-left, top-right, bottom-right and bottom-left corners),
    ``exemplar_flipped`` (K bool), ``exemplar_augmentation`` (K x 14
    float32, its FLIP column the flips), ``context_augmentation`` (14
    float32, when configured), ``exemplar_size`` (n).
    **Deleted Keys:** ``img``. **Modified Keys:** ``img_shape`` = (m, m).

    Args:
        context_size (int): Side m of the square context. Defaults to 160.
        exemplar_size (int): Side n of the square exemplars. Defaults to 64.
        num_exemplars (int): Exemplars K per context. Defaults to 6.
        search_size (int): Side S of the search image. Defaults to 224.
        search_scale (tuple[float]): Area fraction of the input in the
            search crop, within (0, 1]. Defaults to (0.5, 1.0).
        search_ratio (tuple[float]): Aspect (w / h) range of the search
            crop. Defaults to (3/4, 4/3).
        scale_range (tuple[float]): Exemplar area fraction r0 of the
            context, within (0, 1]. Defaults to (0.05, 0.48).
        ratio_range (tuple[float]): Exemplar shape r1 = h / w
            (log-uniform). Defaults to (1/3, 3).
        rotation_range (tuple[float]): Exemplar angle in degrees, within
            [-180, 180]; positive shows the context turned
            counter-clockwise. Defaults to (-45, 45).
        exemplar_flip_prob (float): Defaults to 0.5.
        exemplar_augmentation (dict, optional): the photometric recipe
            (keys of :data:`RELEASE_AUGMENTATION`, the default; missing keys
            take the release's values); None: none.
        context_augmentation (dict, optional): likewise for the context
            (Table 1d); None (default): none.
        max_tries (int): Draws of the search crop and of each exemplar's
            (r0, r1) before the fall-backs. Defaults to 10.
        interpolation (str): 'bicubic' or 'bilinear', the search image's
            kernel when it enlarges. Defaults to 'bicubic'.
        min_image_size (int): Smallest accepted input side. Defaults to 32.
        exemplar_region (str): ``'enclosing'`` (the release: the rectangle
            at the angle around the drawn box) or ``'exact'`` (the box
            turned). Defaults to 'enclosing'.
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
        for name in ('context_size', 'exemplar_size', 'num_exemplars',
                     'search_size', 'max_tries', 'min_image_size'):
            check_int(name, locals()[name])
        for name, low, high, low_open in (
                ('search_scale', 0, 1, True), ('scale_range', 0, 1, True),
                ('search_ratio', 0, math.inf, True),
                ('ratio_range', 0, math.inf, True),
                ('rotation_range', -180, 180, False)):
            check_range(name, locals()[name], low, high, low_open)
        check_prob('exemplar_flip_prob', exemplar_flip_prob)
        if exemplar_region not in ('enclosing', 'exact'):
            raise ValueError("exemplar_region must be 'enclosing' or "
                             f"'exact', got {exemplar_region!r}.")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(_INTERPOLATIONS)}, '
                             f'got {interpolation!r}.')
        self.context_size, self.exemplar_size = context_size, exemplar_size
        self.num_exemplars, self.search_size = num_exemplars, search_size
        self.search_scale = tuple(search_scale)
        self.search_ratio = tuple(search_ratio)
        self.scale_range = tuple(scale_range)
        self.ratio_range = tuple(ratio_range)
        self.rotation_range = tuple(rotation_range)
        self.exemplar_flip_prob = exemplar_flip_prob
        self.exemplar_augmentation = check_augmentation(
            'exemplar_augmentation', exemplar_augmentation)
        self.context_augmentation = check_augmentation(
            'context_augmentation', context_augmentation)
        self.max_tries, self.interpolation = max_tries, interpolation
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
        recipe = self.exemplar_augmentation
        exemplar = draw_checked(
            rng, self.num_exemplars,
            NO_AUGMENTATION if recipe is None else recipe)
        exemplar[:, FLIP] = flip_exemplars
        drawn = dict(exemplar_augmentation=exemplar)
        if self.context_augmentation is not None:
            drawn['context_augmentation'] = draw_checked(
                rng, 1, self.context_augmentation)[0]
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
