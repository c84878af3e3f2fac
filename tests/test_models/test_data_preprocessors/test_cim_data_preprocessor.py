"""Correlation maps built on the device from the exemplar corners are the
CPU transform's maps, bit for bit; CIMDataPreprocessor fills them in."""
import random

import numpy as np
import pytest
import skimage.data
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import MODELS, TRANSFORMS

import cim_mm  # noqa: F401
from cim_mm.models.utils.correlation_maps import rasterize_correlation_maps

PHOTOS = [f()[..., ::-1].copy() for f in (skimage.data.astronaut,
                                          skimage.data.chelsea,
                                          skimage.data.coffee)]
PREPROCESSOR = dict(mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], to_rgb=True)


def crop_samples(count, **kwargs):
    crop = TRANSFORMS.build(dict(type='CorrelationalCrop',
                                 exemplar_transforms=[], **kwargs))
    np.random.seed(0)
    random.seed(0)
    return [crop({'img': PHOTOS[i % len(PHOTOS)].copy()})
            for i in range(count)]


@pytest.mark.parametrize('settings', [
    dict(),  # the release's: enclosing rectangles, rotations to 45 deg
    dict(exemplar_region='exact', rotation_range=(-180, 180)),
    dict(rotation_range=(0, 0)),  # axis-aligned edges (division by zero)
    dict(rotation_range=(90, 90), context_size=96),
])
def test_maps_from_corners_equal_the_cpu_transforms(settings):
    samples = crop_samples(100, **settings)
    corners = torch.from_numpy(np.stack(
        [s['exemplar_corners'] for s in samples]))
    expected = np.stack([s['corr_maps'] for s in samples])
    maps = rasterize_correlation_maps(corners, expected.shape[-1])
    assert maps.dtype == torch.uint8 and maps.shape == expected.shape
    assert np.array_equal(maps.numpy(), expected)
    assert 0.02 < expected.mean() < 0.6  # real, non-trivial maps


def test_preprocessor_fills_in_missing_maps_and_keeps_given_ones():
    samples = crop_samples(4)
    pack_all = TRANSFORMS.build(dict(type='PackCIMInputs'))
    pack_corners = TRANSFORMS.build(dict(
        type='PackCIMInputs',
        algorithm_keys=('exemplar_corners', 'exemplar_flipped')))
    with_maps = default_collate([pack_all(dict(s)) for s in samples])
    without = default_collate([pack_corners(dict(s)) for s in samples])
    assert 'corr_maps' not in without['data_samples'][0]

    ours = MODELS.build(dict(type='CIMDataPreprocessor', **PREPROCESSOR))
    theirs = MODELS.build(dict(type='SelfSupDataPreprocessor',
                               **PREPROCESSOR))
    built = ours(without, training=True)
    reference = theirs(with_maps, training=True)
    for a, b in zip(built['inputs'], reference['inputs']):
        assert torch.equal(a, b)
    for a, b in zip(built['data_samples'], reference['data_samples']):
        assert a.corr_maps.dtype == torch.uint8
        assert torch.equal(a.corr_maps, b.corr_maps)
    given = [s.corr_maps for s in with_maps['data_samples']]
    kept = ours(with_maps, training=True)['data_samples']
    assert all(torch.equal(a.corr_maps, b) for a, b in zip(kept, given))


def test_loss_without_maps_names_the_preprocessor(tiny_cim_cfg, make_batch):
    model = MODELS.build(tiny_cim_cfg())
    inputs, samples = make_batch()
    for sample in samples:
        del sample.corr_maps
    with pytest.raises(KeyError, match='CIMDataPreprocessor'):
        model.loss(inputs, samples)
