"""The OpenCV photometric transforms reproduce mmpretrain's PIL ones."""
import random
import warnings

import cv2
import numpy as np
import pytest
import skimage.data
from mmcv.transforms import Compose

from cim_mm.datasets.transforms import (DEFAULT_EXEMPLAR_TRANSFORMS,
                                        FastColorJitter, FastGaussianBlur)
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur
from mmpretrain.registry import TRANSFORMS


@pytest.fixture(scope='module')
def exemplars():
    """64 x 64 BGR crops of three real photos."""
    return [
        cv2.resize(
            f()[..., ::-1], (64, 64), interpolation=cv2.INTER_AREA)
        for f in (skimage.data.astronaut, skimage.data.coffee,
                  skimage.data.chelsea)
    ]


def apply_seeded(transform, img, seed):
    np.random.seed(seed)
    with warnings.catch_warnings():  # mmcv warns on every PIL saturation
        warnings.simplefilter('ignore')
        return transform({'img': img.copy()})['img']


@pytest.mark.parametrize('kwargs, max_diff', [
    (dict(brightness=0.4), 1),
    (dict(contrast=0.4), 1),
    (dict(saturation=0.2), 1),
    (dict(hue=0.1), 8),
])
def test_fast_color_jitter_matches_pil_color_jitter(exemplars, kwargs,
                                                    max_diff):
    # PIL truncates blends and converts HSV with its own rounding; OpenCV
    # rounds.
    for img in exemplars:
        for seed in range(10):
            fast = apply_seeded(FastColorJitter(**kwargs), img, seed)
            pil = apply_seeded(ColorJitter(**kwargs), img, seed)
            diff = np.abs(fast.astype(int) - pil)
            assert diff.max() <= max_diff
            assert diff.mean() <= 1


def test_fast_color_jitter_draws_like_color_jitter(exemplars):
    kwargs = dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    for seed in range(10):
        fast = apply_seeded(FastColorJitter(**kwargs), exemplars[0], seed)
        after_fast = np.random.rand()
        pil = apply_seeded(ColorJitter(**kwargs), exemplars[0], seed)
        assert np.random.rand() == after_fast
        assert np.abs(fast.astype(int) - pil).mean() < 2.5


def test_fast_gaussian_blur_matches_pil_blur(exemplars):
    kwargs = dict(magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.)
    changed = 0
    for img in exemplars:
        for seed in range(5):
            fast = apply_seeded(FastGaussianBlur(**kwargs), img, seed)
            pil = apply_seeded(GaussianBlur(**kwargs), img, seed)
            assert np.abs(fast.astype(int) - pil).mean() < 1
            changed += (fast != img).any()
    assert changed >= 10  # sigma < ~0.3 leaves an image unchanged


def test_fast_gaussian_blur_with_zero_radius_is_a_no_op(exemplars):
    out = apply_seeded(FastGaussianBlur(radius=0, prob=1.), exemplars[0], 0)
    np.testing.assert_array_equal(out, exemplars[0])


def test_default_exemplar_pipeline_keeps_64x64_bgr_uint8(exemplars):
    pipeline = Compose([
        TRANSFORMS.build({
            '_scope_': 'mmpretrain',
            **cfg
        }) for cfg in DEFAULT_EXEMPLAR_TRANSFORMS
    ])
    changed = 0
    for seed in range(20):
        random.seed(seed)
        img = exemplars[seed % 3]
        out = apply_seeded(pipeline, img, seed)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8
        changed += (out != img).any()
    assert changed >= 15
