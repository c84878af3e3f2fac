"""DrawCorrelationalPair: the worker's draws for the batched pair synthesis."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.registry import TRANSFORMS

import cim_mm  # noqa: F401
from cim_mm.datasets.transforms import exemplar_photometric_params as pp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
GEOMETRY = dict(rotation_range=(-180, 180), exemplar_region='exact',
                scale_range=(0.1, 0.3))


def test_outputs_are_the_search_image_and_the_drawn_parameters(draw):
    for out in draw(dict(type='DrawCorrelationalPair', **GEOMETRY), 12):
        # one flip, read by the synthesis from the parameters
        assert np.array_equal(out['exemplar_augmentation'][:, pp.FLIP],
                              out['exemplar_flipped'])
        assert out['search'].shape == (224, 224, 3)
        assert out['search'].dtype == np.uint8
        assert out['exemplar_corners'].shape == (6, 4, 2)
        assert out['exemplar_augmentation'].shape == (6,
                                                      pp.EXEMPLAR_PARAM_DIM)
        assert out['exemplar_augmentation'].dtype == np.float32
        assert 'img' not in out and 'context_augmentation' not in out
        assert out['img_shape'] == (160, 160) and out['exemplar_size'] == 64


def test_augmentation_does_not_change_the_geometry_draws(draw):
    plain = draw(dict(type='DrawCorrelationalPair', exemplar_augmentation=None,
                      **GEOMETRY), 6)
    augmented = draw(dict(type='DrawCorrelationalPair',
                          context_augmentation={}, **GEOMETRY), 6)
    for a, b in zip(plain, augmented):
        for key in ('search', 'exemplar_corners', 'exemplar_flipped'):
            assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize('removed', ['CorrelationalCrop',
                                     'CorrelationalPairParams',
                                     'FastColorJitter', 'FastGaussianBlur'])
def test_a_removed_transform_names_its_replacement(removed):
    with pytest.raises(ValueError, match=f'{removed} was removed.*use '
                       "DrawCorrelationalPair.*exemplar_augmentation"):
        TRANSFORMS.build(dict(type=removed, exemplar_transforms=[]))


def test_same_seed_same_draws_other_seed_other_draws(draw):
    cfg = dict(type='DrawCorrelationalPair', context_augmentation={})
    first, again, other = (draw(cfg, 3, seed) for seed in (0, 0, 100))
    for a, b, c in zip(first, again, other):
        for key in ('search', 'exemplar_corners', 'exemplar_augmentation',
                    'context_augmentation'):
            assert np.array_equal(a[key], b[key]), key
        assert not np.array_equal(a['exemplar_augmentation'],
                                  c['exemplar_augmentation'])


def test_default_is_the_release_recipe_and_matches_its_rates(draw):
    samples = draw(dict(type='DrawCorrelationalPair'), 300)
    params = np.concatenate([s['exemplar_augmentation'] for s in samples])
    rates = {column: params[:, column].mean()
             for column in (pp.JITTER, pp.GRAY, pp.BLUR, pp.SOLARIZE)}
    # 1800 exemplars: 4 standard errors of the release's probabilities.
    for column, prob in ((pp.JITTER, .8), (pp.GRAY, .2), (pp.BLUR, .5),
                         (pp.SOLARIZE, .2)):
        assert abs(rates[column] - prob) < 4 * np.sqrt(prob * (1 - prob) /
                                                        len(params))
    jittered = params[params[:, pp.JITTER] > 0]
    assert jittered[:, pp.BRIGHTNESS].min() >= 0.6
    assert jittered[:, pp.BRIGHTNESS].max() <= 1.4
    assert np.abs(jittered[:, pp.HUE]).max() <= 0.1


def test_no_augmentation_gives_neutral_parameters_and_keeps_the_flips(draw):
    samples = draw(dict(type='DrawCorrelationalPair',
                        exemplar_augmentation=None, exemplar_flip_prob=0.5),
                   10)
    params = np.concatenate([s['exemplar_augmentation'] for s in samples])
    neutral = np.zeros(pp.EXEMPLAR_PARAM_DIM, np.float32)
    neutral[pp.ORDER] = (0, 1, 2, 3)
    neutral[[pp.BRIGHTNESS, pp.CONTRAST, pp.SATURATION]] = 1
    without_flip = np.delete(params, pp.FLIP, axis=1)
    assert (without_flip == np.delete(neutral, pp.FLIP)).all()
    assert 0 < params[:, pp.FLIP].sum() < len(params)


def test_context_augmentation_is_drawn_without_a_flip(draw):
    samples = draw(dict(type='DrawCorrelationalPair',
                        context_augmentation=dict(jitter_prob=1.)), 20)
    context = np.stack([s['context_augmentation'] for s in samples])
    assert context.shape == (20, pp.EXEMPLAR_PARAM_DIM)
    assert (context[:, pp.JITTER] == 1).all()
    assert (context[:, pp.FLIP] == 0).all()


@pytest.mark.parametrize('kwargs, message', [
    (dict(exemplar_transforms=[]), 'takes exemplar_augmentation'),
    (dict(context_transforms=[]), 'takes context_augmentation'),
    (dict(exemplar_augmentation=dict(flip_prob=0.5)), 'exemplar_flip_prob'),
    (dict(exemplar_augmentation=dict(jitter=0.5)), "unknown keys ['jitter']"),
    (dict(exemplar_augmentation=dict(gray_prob=2.)),
     'gray_prob must be a probability in [0, 1], got 2.0'),
    (dict(context_augmentation=dict(hue=(-1, 1))), 'hue range'),
    (dict(exemplar_augmentation=[0.4]), 'must be a dict'),
])
def test_bad_arguments_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(
            ']', r'\]').replace('(', r'\(')):
        TRANSFORMS.build(dict(type='DrawCorrelationalPair', **kwargs))


def test_unknown_argument_is_named():
    with pytest.raises(TypeError, match=r"unexpected arguments \['pixels'\]"):
        TRANSFORMS.build(dict(type='DrawCorrelationalPair', pixels='device'))


def test_shipped_recipe_is_the_release_in_the_new_vocabulary():
    base = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', 'imagenet_cim.py'))
    assert base.exemplar_augmentation == pp.RELEASE_AUGMENTATION
    # ColorJitter(0.4, 0.4, 0.2, 0.1) p=0.8, gray 0.2, blur 0.1-2 p=0.5,
    # solarize p=0.2 (../shared/reference/cim-facts.md).
    assert pp.RELEASE_AUGMENTATION == dict(
        jitter_prob=0.8, brightness=(0.6, 1.4), contrast=(0.6, 1.4),
        saturation=(0.8, 1.2), hue=(-0.1, 0.1), gray_prob=0.2,
        blur_prob=0.5, blur_sigma=(0.1, 2.0), solarize_prob=0.2)
    pair = base.train_pipeline[1]
    assert pair.type == 'DrawCorrelationalPair'
    assert pair.exemplar_augmentation == pp.RELEASE_AUGMENTATION
    assert pair.context_augmentation is None
