"""CIMDataPreprocessor: maps rasterised from the exemplar corners (checked
against point-in-rectangle tests of every pixel centre), filled in for
built pairs that lack them, kept where given."""
import random

import numpy as np
import pytest
import skimage.data
import torch
from mmpretrain.registry import MODELS, TRANSFORMS

import cim_mm  # noqa: F401
from cim_mm.datasets import pair_synthesis_collate
from cim_mm.models.utils.correlation_maps import rasterize_correlation_maps

PHOTOS = [f()[..., ::-1].copy() for f in (skimage.data.astronaut,
                                          skimage.data.chelsea,
                                          skimage.data.coffee)]
PREPROCESSOR = dict(mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], to_rgb=True)


def drawn_samples(count, **kwargs):
    draw = TRANSFORMS.build(dict(type='DrawCorrelationalPair',
                                 exemplar_augmentation=None, **kwargs))
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    np.random.seed(0)
    random.seed(0)
    return [pack(draw({'img': PHOTOS[i % len(PHOTOS)].copy()}))
            for i in range(count)]


def inside_rectangles(corners, size):
    """(N, 4, 2) corners -> (N, size, size) bool: pixel centres whose
    coordinates along the two edges are in [0, 1], and (N, size, size)
    bool: centres within 1e-6 edge lengths of an edge (rounding decides)."""
    c = corners.astype(np.float64)
    axes = np.stack([c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]], -1)  # N,2,2
    grid = np.stack(np.meshgrid(np.arange(size) + .5, np.arange(size) + .5),
                    -1).reshape(-1, 2)
    uv = np.linalg.solve(axes[:, None], (grid[None] - c[:, None, 0])[..., None])
    uv = uv[..., 0].reshape(len(c), size, size, 2)
    inside = ((uv >= 0) & (uv <= 1)).all(-1)
    edge = (np.minimum(np.abs(uv), np.abs(uv - 1)) < 1e-6).any(-1)
    return inside, edge


@pytest.mark.parametrize('settings', [
    dict(),  # the release's: enclosing rectangles, rotations to 45 deg
    dict(exemplar_region='exact', rotation_range=(-180, 180)),
    dict(rotation_range=(0, 0)),  # axis-aligned edges (division by zero)
    dict(rotation_range=(90, 90), context_size=96),
])
def test_maps_mark_the_pixel_centres_inside_each_rectangle(settings):
    corners = np.concatenate([
        s['pair_params']['exemplar_corners'].numpy()
        for s in drawn_samples(20, **settings)])
    size = settings.get('context_size', 160)
    maps = rasterize_correlation_maps(torch.from_numpy(corners), size)
    assert maps.dtype == torch.uint8 and maps.shape == (len(corners), size,
                                                        size)
    inside, edge = inside_rectangles(corners, size)
    differ = maps.numpy().astype(bool) != inside
    assert not (differ & ~edge).any()
    assert 0.02 < inside.mean() < 0.6  # real, non-trivial maps


def test_preprocessor_fills_in_missing_maps_and_keeps_given_ones():
    built = pair_synthesis_collate(drawn_samples(4))
    given = [s.corr_maps.clone() for s in built['data_samples']]
    preprocessor = MODELS.build(dict(type='CIMDataPreprocessor',
                                     **PREPROCESSOR))
    kept = preprocessor(dict(built), training=True)
    assert all(torch.equal(s.corr_maps, g)
               for s, g in zip(kept['data_samples'], given))
    for sample in built['data_samples']:
        del sample.corr_maps
    filled = preprocessor(dict(built), training=True)
    for sample, maps in zip(filled['data_samples'], given):
        assert sample.corr_maps.dtype == torch.uint8
        assert torch.equal(sample.corr_maps, maps)
    for a, b in zip(filled['inputs'], kept['inputs']):
        assert torch.equal(a, b)
    assert len(filled['inputs']) == 7


def test_loss_without_maps_names_the_preprocessor(tiny_cim_cfg, make_batch):
    model = MODELS.build(tiny_cim_cfg())
    inputs, samples = make_batch()
    for sample in samples:
        del sample.corr_maps
    with pytest.raises(KeyError, match='CIMDataPreprocessor'):
        model.loss(inputs, samples)
