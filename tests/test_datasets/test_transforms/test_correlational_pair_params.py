"""CorrelationalPairParams: the worker half of the device path (draws the
pair, hands over the search image) or, with pixels='worker', exactly the
CPU transform's outputs. The device half: tests/test_models/test_utils/
test_pair_synthesis.py."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import TRANSFORMS

import cim_mm  # noqa: F401


def test_context_transforms_are_refused_with_the_fix():
    with pytest.raises(ValueError, match='use CorrelationalCrop'):
        TRANSFORMS.build(
            dict(type='CorrelationalPairParams',
                 pixels='device',
                 context_transforms=[dict(type='Solarize', thr=128,
                                          prob=1.0)]))


def test_worker_pixels_are_the_cpu_transforms_outputs(draw):
    settings = dict(rotation_range=(-90, 90))
    cpu = draw(dict(type='CorrelationalCrop', **settings), 5)
    worker = draw(
        dict(type='CorrelationalPairParams', pixels='worker', **settings), 5)
    for a, b in zip(cpu, worker):
        assert a.keys() == b.keys()
        for key in ('context', 'exemplars', 'corr_maps', 'exemplar_corners'):
            assert np.array_equal(a[key], b[key]), key


def test_auto_builds_pixels_on_the_device_only_with_a_gpu():
    transform = TRANSFORMS.build(dict(type='CorrelationalPairParams'))
    expected = 'device' if torch.cuda.is_available() else 'worker'
    assert transform.pixels == expected
    with pytest.raises(ValueError, match='pixels must be one of'):
        TRANSFORMS.build(dict(type='CorrelationalPairParams', pixels='gpu'))
