"""OpenCV versions of mmpretrain's photometric transforms for small crops.

mmpretrain's ``ColorJitter`` and ``GaussianBlur`` go through PIL (and, for
``ColorJitter``, a Python warning per call): on a 64 x 64 exemplar they cost
about 1.3 ms and 0.4 ms, six times per CIM sample. The classes below keep
their parents' arguments, parameter ranges and random draws (numpy's global
RNG, inherited methods) and only replace the pixel work with OpenCV: 0.15 ms
and 0.08 ms. Input and output: H x W x 3 uint8 BGR.
"""
import cv2
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur
from mmpretrain.registry import TRANSFORMS


def _blend_constant(img: np.ndarray, value: float,
                    factor: float) -> np.ndarray:
    """``factor * img + (1 - factor) * value``, rounded and saturated to uint8.

    PIL's ``ImageEnhance`` blend towards a constant image (the second input of
    ``addWeighted`` gets weight 0, leaving a saturating affine map).
    """
    return cv2.addWeighted(img, factor, img, 0, (1 - factor) * value)


@TRANSFORMS.register_module()
class FastColorJitter(ColorJitter):
    """:class:`mmpretrain.datasets.transforms.ColorJitter` with OpenCV ops.

    Same arguments, factor ranges and random order of the four adjustments as
    the parent (and as torchvision's PIL ``ColorJitter``, which the CIM release
    uses):

    - brightness: blend with black;
    - contrast: blend with the mean of the ITU-R 601 luma, rounded to int;
    - saturation: blend with the per-pixel luma;
    - hue: shift H by ``int(hue * 255)`` (mod 256) in 8-bit full-range HSV.

    Results match the PIL backend up to rounding (a few grey levels).
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:
            if index == 0 and brightness is not None:
                img = _blend_constant(img, 0., brightness)
            elif index == 1 and contrast is not None:
                gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
                mean = int(cv2.mean(gray)[0] + 0.5)
                img = _blend_constant(img, mean, contrast)
            elif index == 2 and saturation is not None:
                gray = cv2.cvtColor(
                    cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
                img = cv2.addWeighted(img, saturation, gray, 1 - saturation,
                                      0)
            elif index == 3 and hue is not None:
                hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
                hsv[..., 0] += np.uint8(int(hue * 255) % 256)  # wraps mod 256
                img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)
        results['img'] = img
        return results


@TRANSFORMS.register_module()
class FastGaussianBlur(GaussianBlur):
    """:class:`mmpretrain.datasets.transforms.GaussianBlur` with OpenCV.

    Same arguments and random draws as the parent; the radius is the Gaussian
    standard deviation in pixels (as in PIL's ``GaussianBlur``), the kernel
    spans +-3 sigma and borders are replicated (as PIL does).
    """

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        sigma = self.radius if self.radius is not None \
            else self.random_magnitude()
        if sigma > 0:  # OpenCV rejects sigma 0, which is a no-op in PIL
            results['img'] = cv2.GaussianBlur(
                results['img'], (0, 0),
                sigmaX=sigma,
                borderType=cv2.BORDER_REPLICATE)
        return results
