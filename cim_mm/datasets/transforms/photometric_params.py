"""Draw the random values of the exemplar photometric transforms.

The dataloader worker no longer runs the exemplar augmentation on pixels:
:class:`PhotometricParamRecorder` draws, for one exemplar, the values the
transforms would draw (by calling the transforms' own random methods, in
pipeline order, so the RNG calls are the same calls) and packs them into a
float32 vector; :func:`cim_mm.models.utils.photometric_ops.
apply_photometric` applies a batch of them on the device.

Layout of the vector (``PHOTOMETRIC_PARAM_DIM`` = 26 values; the indices
are the module constants below):

=============  =====  ========================================================
name           index  value
=============  =====  ========================================================
JITTER         0      1 if the colour jitter ran (``RandomApply`` fired),
                      else 0
ORDER          1-4    the drawn permutation of the adjustments (0
                      brightness, 1 contrast, 2 saturation, 3 hue); 0, 1, 2,
                      3 if not run
BRIGHTNESS     5      brightness factor (float32); NaN when not run or range
                      ``None``
CONTRAST       6      contrast factor; NaN likewise
SATURATION     7      saturation factor; NaN likewise
HUE            8      8-bit hue shift ``int(hue * 255) % 256``; NaN likewise
FACTOR_RESIDS  9-11   the float64 factors minus their float32 values (5-7),
                      in float32; 0 when NaN
GRAY           12     1 if the grayscale ran, else 0
GRAY_WEIGHTS   13-21  the grayscale's normalised channel weights (B, G, R) as
                      float32 rows hi, mid, lo: ``(hi + mid) + lo`` in
                      float64 is the float64 weight exactly (0 without a
                      grayscale)
BLUR_SIGMA     22     Gaussian blur sigma in pixels; 0 when not run
BLUR_KSIZE     23     OpenCV's kernel size for it, ``round(6 sigma + 1) | 1``
                      (uint8 rule, from the float64 sigma); 0 when not run
SOLARIZE       24     1 if the solarize ran, else 0
SOLARIZE_THR   25     ``ceil(thr)`` clipped to [0, 256]: an integer pixel is
                      inverted iff it is >= this (``not pixel < thr``)
=============  =====  ========================================================

What float32 would lose and a uint8 result can depend on is kept: the hue
shift, the kernel size and the threshold are the integers the CPU
transforms derive from their float64 draws; factor + residual is the
float64 factor to 2**-48 (OpenCV weighs with the float32 factor but with
``1 - factor`` from the float64 one); the grayscale weights are split
exactly.
"""
from typing import Iterable, List, Optional

import numpy as np
from mmcv.transforms import Compose, RandomApply, RandomGrayscale
from mmpretrain.datasets.transforms import (ColorJitter, GaussianBlur,
                                            Solarize)

from .photometric import FastColorJitter, FastGaussianBlur

JITTER = 0
ORDER = slice(1, 5)
BRIGHTNESS, CONTRAST, SATURATION, HUE = 5, 6, 7, 8
FACTOR_RESIDS = slice(9, 12)
GRAY = 12
GRAY_WEIGHTS = slice(13, 22)
BLUR_SIGMA, BLUR_KSIZE = 22, 23
SOLARIZE, SOLARIZE_THR = 24, 25
PHOTOMETRIC_PARAM_DIM = 26

_JITTERS = (ColorJitter, FastColorJitter)
_BLURS = (GaussianBlur, FastGaussianBlur)
SUPPORTED_TRANSFORMS = (
    'RandomApply(transforms=[FastColorJitter or ColorJitter]) (or the '
    'jitter alone), RandomGrayscale(keep_channels=True, 3 weights), '
    'FastGaussianBlur or GaussianBlur, Solarize; each at most once, in '
    'this order')


def split_float64(value: float) -> np.ndarray:
    """Three float32 whose sum ``(hi + mid) + lo`` in float64 is ``value``.

    Returns:
        np.ndarray: (3,) float32 ``[hi, mid, lo]``.
    """
    hi = np.float32(value)
    mid = np.float32(value - np.float64(hi))
    lo = np.float32(value - np.float64(hi) - np.float64(mid))
    return np.array([hi, mid, lo], dtype=np.float32)


def opencv_gaussian_ksize(sigma: float) -> int:
    """OpenCV's kernel size for ``GaussianBlur(uint8, (0, 0), sigma)``."""
    return int(round(sigma * 3 * 2 + 1)) | 1  # cvRound: half to even


def _unsupported(transform, why: str = '') -> ValueError:
    return ValueError(
        f'Cannot draw the photometric parameters of {transform!r}{why}. '
        f'Supported: {SUPPORTED_TRANSFORMS}.')


class PhotometricParamRecorder:
    """Draw one exemplar's photometric parameters as its transforms would.

    Each call makes exactly the RNG calls that running ``transforms`` on an
    exemplar makes (numpy's global RNG, and Python's ``random`` for mmcv's
    ``RandomGrayscale``), through the transforms' own methods, so with the
    same seeds it returns the values the CPU path used. Layout: see the
    module docstring.

    Args:
        transforms (Compose | Iterable): The built exemplar transforms (e.g.
            ``CorrelationalCrop.exemplar_pipeline`` or its ``transforms``);
            empty: every operation off. Anything else than the supported
            types, order and settings raises a ``ValueError``.
    """

    def __init__(self, transforms: Iterable) -> None:
        if isinstance(transforms, Compose):
            transforms = transforms.transforms
        self.transforms = list(transforms)
        self._base = np.zeros(PHOTOMETRIC_PARAM_DIM, dtype=np.float32)
        self._base[ORDER] = np.arange(4)
        self._base[[BRIGHTNESS, CONTRAST, SATURATION, HUE]] = np.nan
        self._steps: List = []
        rank = -1
        for transform in self.transforms:
            step, step_rank = self._step(transform)
            if step_rank <= rank:
                raise _unsupported(transform, ' at this position')
            rank = step_rank
            self._steps.append(step)

    def _step(self, transform) -> tuple:
        """The drawing function of ``transform`` and its rank in order."""
        kind = type(transform)
        if kind is RandomApply:
            inner = transform.transforms.transforms
            if len(inner) != 1 or type(inner[0]) not in _JITTERS:
                raise _unsupported(transform)
            self._step(inner[0])  # checks the jitter's settings
            return self._jitter_step(inner[0], transform), 0
        if kind in _JITTERS:
            if kind is ColorJitter and transform.backend != 'pillow':
                raise _unsupported(transform, ' with this backend')
            return self._jitter_step(transform), 0
        if kind is RandomGrayscale:
            if (not transform.keep_channels
                    or transform.color_format == 'hsv'
                    or len(transform.channel_weights) != 3):
                raise _unsupported(transform, ' with these settings')
            weights = (np.array(transform.channel_weights) /
                       sum(transform.channel_weights))
            self._base[GRAY_WEIGHTS] = np.stack(
                [split_float64(w) for w in weights], 1).ravel()
            return self._gray_step(transform), 1
        if kind in _BLURS:
            return self._blur_step(transform), 2
        if kind is Solarize:
            return self._solarize_step(transform), 3
        raise _unsupported(transform)

    @staticmethod
    def _jitter_step(jitter, wrapper: Optional[RandomApply] = None):

        def step(params: np.ndarray) -> None:
            # RandomApply.transform, then ColorJitter.transform.
            if wrapper is not None and not wrapper.random_apply():
                return
            order, brightness, contrast, saturation, hue = (
                jitter._rand_params())
            params[JITTER] = 1
            params[ORDER] = order
            for index, factor in enumerate((brightness, contrast,
                                            saturation)):
                if factor is not None:
                    hi, lo = split_float64(factor)[:2]
                    params[BRIGHTNESS + index] = hi
                    params[FACTOR_RESIDS.start + index] = lo
            if hue is not None:
                params[HUE] = int(hue * 255) % 256  # as FastColorJitter

        return step

    @staticmethod
    def _gray_step(gray: RandomGrayscale):

        def step(params: np.ndarray) -> None:
            if gray._random_prob() < gray.prob:
                params[GRAY] = 1

        return step

    @staticmethod
    def _blur_step(blur: GaussianBlur):

        def step(params: np.ndarray) -> None:
            if blur.random_disable():
                return
            sigma = blur.radius if blur.radius is not None \
                else blur.random_magnitude()
            if sigma > 0:  # FastGaussianBlur skips sigma <= 0
                params[BLUR_SIGMA] = sigma
                params[BLUR_KSIZE] = opencv_gaussian_ksize(sigma)

        return step

    @staticmethod
    def _solarize_step(solarize: Solarize):

        def step(params: np.ndarray) -> None:
            if solarize.random_disable():
                return
            thr = solarize.thr if solarize.thr is not None \
                else solarize.random_magnitude()
            params[SOLARIZE] = 1
            params[SOLARIZE_THR] = np.clip(np.ceil(thr), 0, 256)

        return step

    def __call__(self) -> np.ndarray:
        """Draw one exemplar's parameters: (P,) float32."""
        params = self._base.copy()
        for step in self._steps:
            step(params)
        return params

    def draw(self, num: int) -> np.ndarray:
        """Draw ``num`` exemplars' parameters in turn: (num, P) float32."""
        return np.stack([self() for _ in range(num)]) if num else \
            np.zeros((0, PHOTOMETRIC_PARAM_DIM), np.float32)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.transforms})'
