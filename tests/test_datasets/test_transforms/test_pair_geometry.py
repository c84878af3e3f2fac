"""A pair's geometry end to end: DrawCorrelationalPair's draws, built by the
pair synthesis (as ``pair_synthesis_collate`` builds them): maps, exemplar
content and alignment, augmentation, inputs, arguments.

Geometry checks run on 200 samples from real photos (scikit-image's and
foolbox's ImageNet validation photos) with photometric augmentation and the
exemplar flip off, so every exemplar pixel can be traced back to the context.
"""
import glob
import importlib.util
import os.path as osp
import random
from functools import lru_cache

import cv2
import numpy as np
import pytest
import skimage.data

from cim_mm.datasets import pair_synthesis_collate
from cim_mm.datasets.transforms import (DrawCorrelationalPair,
                                        PackCIMInputs)
from mmpretrain.registry import TRANSFORMS

# Tiny tensor ops: one thread (the machine's other cores may be busy).
pytestmark = pytest.mark.usefixtures('one_torch_thread')

M, N, K = 160, 64, 6  # context side, exemplar side, exemplars per context


@lru_cache()
def photos():
    """Real BGR photos of various sizes: 512x512, 300x451, 400x600, 224x224."""
    images = [
        f()[..., ::-1].copy() for f in (skimage.data.astronaut,
                                        skimage.data.chelsea,
                                        skimage.data.coffee)
    ]
    foolbox_dir = importlib.util.find_spec(
        'foolbox').submodule_search_locations[0]
    files = sorted(glob.glob(osp.join(foolbox_dir, 'data', 'imagenet_*')))
    images += [cv2.imread(f) for f in files[:5]]
    return images


def plain(**kwargs):
    """No photometric augmentation, no exemplar flip: pure geometry."""
    return DrawCorrelationalPair(
        **{
            'exemplar_augmentation': None,
            'exemplar_flip_prob': 0,
            **kwargs
        })


def build(transform, images, seeds, path='photo.jpg'):
    """Each image drawn with its seed, the pairs built in one batch: per
    sample the drawn keys plus ``context`` (m x m x 3 uint8 BGR),
    ``exemplars`` (K x n x n x 3) and ``corr_maps`` (K x m x m), numpy."""
    pack = PackCIMInputs()
    drawn = []
    for img, seed in zip(images, seeds):
        np.random.seed(seed)
        random.seed(seed)
        drawn.append(transform({'img': img.copy(), 'img_path': path}))
    batch = pair_synthesis_collate([pack(dict(d)) for d in drawn])
    context, *exemplars = (x.permute(0, 2, 3, 1).numpy()
                           for x in batch['inputs'])
    exemplars = np.stack(exemplars, 1)
    return [
        dict(d, context=context[i], exemplars=exemplars[i],
             corr_maps=sample.corr_maps.numpy())
        for i, (d, sample) in enumerate(zip(drawn, batch['data_samples']))
    ]


def run(transform, img, seed=0, path='photo.jpg'):
    return build(transform, [img], [seed], path)[0]


@pytest.fixture(scope='module')
def samples():
    """200 geometry-only samples (each: context, 6 exemplars, maps)."""
    images = photos()
    return build(plain(), [images[i % len(images)] for i in range(200)],
                 range(200))


def exemplar_points(corners):
    """Context (x, y) of each exemplar pixel centre: n x n x 2, [row, col]."""
    a = (np.arange(N) + 0.5) / N
    c = corners.astype(np.float64)
    return (c[0] + a[None, :, None] * (c[1] - c[0]) +
            a[:, None, None] * (c[3] - c[0]))


def signed_distances(points, corners):
    """Distance of points (... x 2) to each edge line of the quadrilateral,
    positive inside (independent of the transform's strip formulation)."""
    c = corners.astype(np.float64)
    area2 = sum(c[i, 0] * c[(i + 1) % 4, 1] - c[(i + 1) % 4, 0] * c[i, 1]
                for i in range(4))
    orientation = np.sign(area2)
    out = []
    for i in range(4):
        p, q = c[i], c[(i + 1) % 4]
        edge = q - p
        cross = edge[0] * (points[..., 1] - p[1]) - edge[1] * (
            points[..., 0] - p[0])
        out.append(orientation * cross / np.linalg.norm(edge))
    return np.stack(out, -1)


def sample_context(context, points):
    """Bilinear samples of the context at continuous points (n x n x 2)."""
    p = (points - 0.5).astype(np.float32)  # continuous -> pixel index
    return cv2.remap(
        context,
        p[..., 0],
        p[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE).astype(np.float64)


def test_outputs_have_documented_shapes_dtypes_and_keys(samples):
    out = samples[0]
    assert 'img' not in out
    assert out['search'].shape == (224, 224, 3)
    assert out['search'].dtype == np.uint8
    assert out['search'].flags.c_contiguous
    assert out['context'].shape == (M, M, 3)
    assert out['context'].dtype == np.uint8
    assert out['exemplars'].shape == (K, N, N, 3)
    assert out['exemplars'].dtype == np.uint8
    assert out['corr_maps'].shape == (K, M, M)
    assert out['corr_maps'].dtype == np.uint8
    assert set(np.unique(out['corr_maps'])) <= {0, 1}
    assert out['exemplar_corners'].shape == (K, 4, 2)
    assert out['exemplar_corners'].dtype == np.float32
    assert out['exemplar_flipped'].shape == (K, )
    assert out['img_shape'] == (M, M)


def test_corners_lie_inside_the_context(samples):
    corners = np.stack([s['exemplar_corners'] for s in samples])
    assert corners.min() >= 0 and corners.max() <= M


def test_corners_form_the_sampled_rectangle_shape(samples):
    for s in samples:
        c = s['exemplar_corners'].astype(np.float64)
        width_axis, height_axis = c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]
        np.testing.assert_allclose(c[:, 2], c[:, 0] + width_axis +
                                   height_axis, atol=1e-3)
        cosine = (width_axis * height_axis).sum(1) / (
            np.linalg.norm(width_axis, axis=1) *
            np.linalg.norm(height_axis, axis=1))
        np.testing.assert_allclose(cosine, 0, atol=1e-5)


@pytest.mark.parametrize('rotation', [(-45, 45), (0, 0), (90, 90)])
def test_map_marks_exactly_pixel_centres_inside_rectangle(rotation):
    transform = plain(rotation_range=rotation)
    centres = np.stack(
        np.meshgrid(np.arange(M) + 0.5, np.arange(M) + 0.5), -1)
    outs = build(transform, [photos()[i % len(photos())] for i in range(30)],
                 range(30))
    for out in outs:
        for corners, corr_map in zip(out['exemplar_corners'],
                                     out['corr_maps']):
            distances = signed_distances(centres, corners)
            expected = (distances >= 0).all(-1)
            differ = expected != corr_map.astype(bool)
            # Only a centre on an edge (up to float rounding) may differ.
            assert np.abs(distances[differ]).min(-1).max(initial=0) < 1e-6
            assert differ.sum() <= 2


def test_exemplar_interior_lands_on_marked_pixels(samples):
    for s in samples:
        for corners, corr_map in zip(s['exemplar_corners'], s['corr_maps']):
            points = exemplar_points(corners)
            # A point this deep inside has the centre of its pixel inside.
            deep = signed_distances(points, corners).min(-1) > np.sqrt(.5)
            cols, rows = np.floor(points[deep]).astype(int).T
            assert corr_map[rows, cols].all()


def test_marked_pixels_are_covered_by_the_exemplar(samples):
    for s in samples:
        for corners, corr_map in zip(s['exemplar_corners'], s['corr_maps']):
            c = corners.astype(np.float64)
            axes = np.stack([c[1] - c[0], c[3] - c[0]], 1)
            rows, cols = np.nonzero(corr_map)
            centres = np.stack([cols + 0.5, rows + 0.5], 1)
            # Exemplar coordinates in units of the exemplar side (up to the
            # rounding of a centre that lies on an edge).
            uv = np.linalg.solve(axes, (centres - c[0]).T)
            assert uv.min() >= -1e-6 and uv.max() <= 1 + 1e-6


def test_exemplar_pixels_are_context_content_at_their_rectangle(samples):
    # Context and exemplars are resampled from the search image with
    # different filters (antialiased resize; 3 x 3 bilinear samples per
    # pixel, then this test's bilinear lookup), so they differ by a few grey
    # levels at edges; content from a different rectangle differs by tens.
    matched, mismatched = [], []
    for s in samples:
        context, corners = s['context'], s['exemplar_corners']
        for k, exemplar in enumerate(s['exemplars'].astype(np.float64)):
            matched.append(
                np.abs(exemplar - sample_context(
                    context, exemplar_points(corners[k]))).mean())
            turned = corners[k][[2, 3, 0, 1]]  # same region, upside down
            mismatched.append(
                np.abs(exemplar - sample_context(
                    context, exemplar_points(turned))).mean())
    matched, mismatched = np.array(matched), np.array(mismatched)
    assert np.median(matched) < 4
    assert matched.max() < 12
    assert np.median(mismatched) > 5 * np.median(matched)
    assert (matched < mismatched).mean() > 0.99


def test_exemplars_align_with_context_to_a_fraction_of_a_pixel():
    # On a linear ramp (blue = x, green = y, one grey level per source pixel)
    # every filter used is exact up to rounding, so each exemplar must equal
    # the context's own ramp (fitted) at its pixel centres. A half-pixel slip
    # in the coordinate conventions biases exemplars by ~0.5 levels.
    ramp = np.zeros((256, 256, 3), np.uint8)
    ramp[..., 0], ramp[..., 1] = np.meshgrid(np.arange(256), np.arange(256))
    centres = np.arange(M) + 0.5
    transform = plain()
    biases = []
    for out in build(transform, [ramp] * 40, range(40)):
        context = out['context'].astype(np.float64)
        fit_x = np.polyfit(centres, context[..., 0].mean(0), 1)
        fit_y = np.polyfit(centres, context[..., 1].mean(1), 1)
        for corners, exemplar in zip(out['exemplar_corners'],
                                     out['exemplars']):
            points = exemplar_points(corners)
            expected = np.stack([
                np.polyval(fit_x, points[..., 0]),
                np.polyval(fit_y, points[..., 1])
            ], -1)
            biases.append((exemplar[..., :2] - expected).mean((0, 1)))
    biases = np.abs(biases)
    assert np.median(biases) < 0.05
    assert np.percentile(biases, 90) < 0.1


def test_map_coverage_statistics_match_the_release(samples):
    # The release's maps cover 31% of the context on average (5th pct 10%,
    # 95th 50%): the exemplar is the rotated rectangle enclosing the r0 box.
    coverage = np.concatenate([s['corr_maps'].mean((1, 2)) for s in samples])
    assert 0.28 < coverage.mean() < 0.34
    assert 0.08 < np.percentile(coverage, 5) < 0.13
    assert 0.46 < np.percentile(coverage, 95) < 0.55


def test_exact_region_has_area_r0_and_smaller_coverage():
    # 'exact': the rotated region itself has area r0 * m^2 (at most 48%).
    transform = plain(exemplar_region='exact')
    images = photos()
    coverage = np.concatenate([
        out['corr_maps'].mean((1, 2)) for out in build(
            transform, [images[i % len(images)] for i in range(60)], range(60))
    ])
    assert coverage.max() <= transform.scale_range[1] + 0.01
    assert 0.20 < coverage.mean() < 0.28
    fixed = plain(exemplar_region='exact', scale_range=(0.2, 0.2),
                  ratio_range=(2, 2), rotation_range=(30, 30))
    maps = run(fixed, images[0], seed=0)['corr_maps']
    assert np.allclose(maps.mean((1, 2)), 0.2, atol=0.01)


def test_fixed_scale_square_unrotated_map_is_a_64_pixel_square():
    transform = plain(
        scale_range=(0.16, 0.16), ratio_range=(1, 1), rotation_range=(0, 0))
    for out in build(transform,
                     [photos()[seed % len(photos())] for seed in range(20)],
                     range(20)):
        for corr_map in out['corr_maps']:
            rows, cols = np.nonzero(corr_map)
            assert rows.max() - rows.min() + 1 == 64
            assert cols.max() - cols.min() + 1 == 64
            assert corr_map.sum() == 64 * 64  # a filled axis-aligned square


def _sides(corners):
    c = corners.astype(np.float64)
    width_axis, height_axis = c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]
    return (np.linalg.norm(width_axis, axis=1),
            np.linalg.norm(height_axis, axis=1))


def test_enclosing_region_is_the_rotated_rectangle_around_the_box():
    transform = plain(
        scale_range=(0.1, 0.1), ratio_range=(2, 2), rotation_range=(30, 30))
    out = run(transform, photos()[0])
    w, h = _sides(out['exemplar_corners'])
    box_w, box_h = M * np.sqrt(0.1 / 2), M * np.sqrt(0.1 * 2)
    cos, sin = np.cos(np.radians(30)), np.sin(np.radians(30))
    np.testing.assert_allclose(w, box_w * cos + box_h * sin, rtol=1e-5)
    np.testing.assert_allclose(h, box_w * sin + box_h * cos, rtol=1e-5)


def test_rotation_angle_and_shape_follow_the_ranges():
    transform = plain(
        scale_range=(0.1, 0.1), ratio_range=(2, 2), rotation_range=(30, 30),
        exemplar_region='exact')
    out = run(transform, photos()[0])
    c = out['exemplar_corners'].astype(np.float64)
    width_axis, height_axis = c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]
    angle = np.degrees(np.arctan2(width_axis[:, 1], width_axis[:, 0]))
    np.testing.assert_allclose(angle, 30, atol=1e-3)
    w = np.linalg.norm(width_axis, axis=1)
    h = np.linalg.norm(height_axis, axis=1)
    np.testing.assert_allclose(h / w, 2, rtol=1e-5)
    np.testing.assert_allclose(w * h, 0.1 * M * M, rtol=1e-5)


def test_rectangle_too_large_to_fit_is_shrunk_keeping_shape_and_angle():
    transform = plain(
        scale_range=(0.9, 0.9), ratio_range=(3, 3), rotation_range=(20, 20),
        exemplar_region='exact')
    out = run(transform, photos()[1])
    c = out['exemplar_corners'].astype(np.float64)
    assert c.min() >= 0 and c.max() <= M
    width_axis, height_axis = c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]
    h, w = (np.linalg.norm(height_axis, axis=1),
            np.linalg.norm(width_axis, axis=1))
    np.testing.assert_allclose(h / w, 3, rtol=1e-5)
    angle = np.degrees(np.arctan2(width_axis[:, 1], width_axis[:, 0]))
    np.testing.assert_allclose(angle, 20, atol=1e-3)
    # Just fits: the bounding box spans the whole context along y.
    np.testing.assert_allclose(c[..., 1].max(1) - c[..., 1].min(1), M)


def test_default_augmentation_changes_exemplars_but_not_context_or_maps():
    img = photos()[2]
    augmented = run(DrawCorrelationalPair(exemplar_flip_prob=0), img, seed=3)
    reference = run(plain(), img, seed=3)
    np.testing.assert_array_equal(augmented['context'], reference['context'])
    np.testing.assert_array_equal(augmented['corr_maps'],
                                  reference['corr_maps'])
    changed = [(a != b).any() for a, b in zip(augmented['exemplars'],
                                              reference['exemplars'])]
    assert sum(changed) >= 4  # colour jitter alone applies with p=0.8
    # the same geometry draws with and without augmentation
    np.testing.assert_array_equal(augmented['exemplar_corners'],
                                  reference['exemplar_corners'])


def test_exemplar_flip_mirrors_exemplar_only():
    img = photos()[0]
    flipped = run(plain(exemplar_flip_prob=1), img, seed=5)
    reference = run(plain(), img, seed=5)
    assert flipped['exemplar_flipped'].all()
    assert not reference['exemplar_flipped'].any()
    np.testing.assert_array_equal(flipped['exemplars'],
                                  reference['exemplars'][:, :, ::-1])
    np.testing.assert_array_equal(flipped['context'], reference['context'])
    np.testing.assert_array_equal(flipped['corr_maps'],
                                  reference['corr_maps'])


def test_context_augmentation_applies_to_context_only():
    img = photos()[0]
    gray = run(
        plain(context_augmentation=dict(jitter_prob=0., gray_prob=1.,
                                        blur_prob=0., solarize_prob=0.)),
        img)
    reference = run(plain(), img)
    luma = reference['context'][..., ::-1].astype(np.float64) @ np.array(
        [0.2989, 0.587, 0.114])
    for channel in range(3):
        assert np.abs(gray['context'][..., channel] - luma).max() <= 0.5 + 1e-3
    np.testing.assert_array_equal(gray['exemplars'], reference['exemplars'])
    np.testing.assert_array_equal(gray['corr_maps'], reference['corr_maps'])


def test_same_seeds_give_identical_samples_and_new_seeds_differ():
    transform = DrawCorrelationalPair()
    img = photos()[1]
    first, again, other = (run(transform, img, seed=s) for s in (7, 7, 8))
    for key in ('search', 'context', 'exemplars', 'corr_maps',
                'exemplar_corners', 'exemplar_flipped',
                'exemplar_augmentation'):
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first['exemplar_corners'],
                              other['exemplar_corners'])


@pytest.mark.parametrize('convert', [
    lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
    lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None],
],
                         ids=['HxW', 'HxWx1'])
def test_grayscale_inputs_become_three_equal_channels(convert):
    gray = convert(photos()[0])
    out = run(plain(), gray)
    expected = run(plain(), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    np.testing.assert_array_equal(out['context'], expected['context'])
    np.testing.assert_array_equal(out['exemplars'], expected['exemplars'])
    assert (out['context'][..., 0] == out['context'][..., 2]).all()


def test_four_channel_input_drops_alpha():
    bgr = photos()[2]
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    out, expected = run(plain(), bgra), run(plain(), bgr)
    np.testing.assert_array_equal(out['context'], expected['context'])
    np.testing.assert_array_equal(out['exemplars'], expected['exemplars'])


def test_too_small_image_error_names_the_file_and_the_limit():
    with pytest.raises(ValueError, match=r'tiny\.png.*min_image_size=32'):
        run(plain(), np.zeros((20, 100, 3), np.uint8), path='tiny.png')


@pytest.mark.parametrize('img', [
    np.zeros((64, 64, 3), np.float32),
    np.zeros((64, 64, 2), np.uint8),
    np.zeros((2, 64, 64, 3), np.uint8),
],
                         ids=['float32', '2-channel', '4-D'])
def test_unsupported_image_error_names_the_file(img):
    with pytest.raises(ValueError, match=r'bad\.png'):
        run(plain(), img, path='bad.png')


@pytest.mark.parametrize('name, value', [
    ('context_size', 0),
    ('context_size', 160.0),
    ('exemplar_size', -64),
    ('num_exemplars', 0),
    ('search_size', True),
    ('max_tries', 0),
    ('min_image_size', 0),
    ('search_scale', (0, 1)),
    ('search_scale', (0.5, 1.5)),
    ('search_ratio', (4 / 3, 3 / 4)),
    ('scale_range', (0.0, 0.5)),
    ('scale_range', (0.5, 0.1)),
    ('scale_range', (0.1, 1.2)),
    ('scale_range', 0.16),
    ('ratio_range', (-1, 3)),
    ('ratio_range', (3, 1 / 3)),
    ('rotation_range', (45, -45)),
    ('rotation_range', (-200, 0)),
    ('rotation_range', (0, 181)),
    ('exemplar_flip_prob', 1.5),
    ('exemplar_region', 'box'),
    ('exemplar_flip_prob', -0.1),
    ('exemplar_augmentation', dict(type='Solarize', thr=128)),
    ('context_augmentation', dict(blur_sigma=(0, 1))),
    ('exemplar_transforms', []),
    ('context_transforms', []),
    ('interpolation', 'nearest'),
])
def test_invalid_argument_is_rejected_with_its_name(name, value):
    with pytest.raises(ValueError, match=name):
        DrawCorrelationalPair(**{name: value})


def test_table1_settings_are_accepted():
    for kwargs in [
            dict(scale_range=(0.16, 0.16), ratio_range=(1, 1),
                 rotation_range=(0, 0)),
            dict(scale_range=(0.01, 0.16)),
            dict(scale_range=(0.16, 1.0)),
            dict(ratio_range=(1 / 4, 4)),
            dict(rotation_range=(-180, 180)),
            dict(context_augmentation={}),
    ]:
        out = run(DrawCorrelationalPair(**kwargs), photos()[0])
        assert out['corr_maps'].any(axis=(1, 2)).all()


def test_builds_from_registry_with_arguments_in_repr():
    transform = TRANSFORMS.build(
        dict(type='DrawCorrelationalPair', num_exemplars=2, max_tries=3))
    text = repr(transform)
    assert 'num_exemplars=2' in text and 'max_tries=3' in text
    assert "'jitter_prob': 0.8" in text and 'context_augmentation=None' in text
    assert run(transform, photos()[0])['exemplars'].shape == (2, N, N, 3)
