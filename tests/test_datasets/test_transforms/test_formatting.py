"""PackCIMInputs: DrawCorrelationalPair's output -> inputs, data sample and
the pair parameters beside it."""
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate

import cim_mm  # noqa: F401
from cim_mm.datasets.transforms import DrawCorrelationalPair, PackCIMInputs
from mmpretrain.structures import DataSample

M, N, K, S = 160, 64, 6, 224


@pytest.fixture(scope='module')
def drawn():
    """Two drawn pairs of real photos, with loading metadata."""
    import skimage.data
    transform = DrawCorrelationalPair(context_augmentation={})
    out = []
    for idx, image in enumerate([skimage.data.astronaut(),
                                 skimage.data.coffee()]):
        np.random.seed(idx)
        bgr = image[..., ::-1].copy()
        out.append(
            transform(
                dict(img=bgr, img_path=f'photo{idx}.png', sample_idx=idx,
                     ori_shape=bgr.shape[:2], img_shape=bgr.shape[:2],
                     skipped_images=[('bad.jpg', 'truncated')])))
    return out


def test_pack_gives_the_search_image_as_chw_uint8(drawn):
    inputs = PackCIMInputs()(dict(drawn[0]))['inputs']
    assert len(inputs) == 1
    assert inputs[0].shape == (3, S, S) and inputs[0].dtype == torch.uint8
    np.testing.assert_array_equal(inputs[0].permute(1, 2, 0).numpy(),
                                  drawn[0]['search'])


def test_parameters_travel_beside_the_sample_and_meta_inside(drawn):
    packed = PackCIMInputs()(dict(drawn[0]))
    params, sample = packed['pair_params'], packed['data_samples']
    assert isinstance(sample, DataSample)
    assert set(params) == {'exemplar_corners', 'exemplar_flipped',
                           'exemplar_augmentation', 'context_augmentation'}
    assert params['exemplar_corners'].shape == (K, 4, 2)
    assert params['exemplar_flipped'].dtype == torch.bool
    assert 'exemplar_corners' not in sample
    assert sample.img_path == 'photo0.png' and sample.sample_idx == 0
    assert sample.ori_shape == (512, 512)
    assert sample.img_shape == (M, M) and sample.exemplar_size == N
    assert sample.skipped_images == [('bad.jpg', 'truncated')]


def test_sizes_are_packed_whatever_the_meta_keys(drawn):
    sample = PackCIMInputs(meta_keys=('img_path', ))(dict(
        drawn[0]))['data_samples']
    assert set(sample.metainfo_keys()) == {'img_path', 'img_shape',
                                           'exemplar_size', 'skipped_images'}


def test_collate_stacks_each_parameter_into_one_batch_tensor(drawn):
    pack = PackCIMInputs()
    batch = default_collate([pack(dict(d)) for d in drawn])
    assert batch['inputs'][0].shape == (2, 3, S, S)
    params = batch['pair_params']
    assert params['exemplar_augmentation'].shape == (2, K, 14)
    assert params['context_augmentation'].shape == (2, 14)
    assert len(batch['data_samples']) == 2


def test_a_pipeline_without_the_pair_step_is_refused_with_the_fix():
    with pytest.raises(ValueError, match='put DrawCorrelationalPair before'):
        PackCIMInputs()(dict(img=np.zeros((8, 8, 3), np.uint8)))


def test_repr_lists_the_arguments():
    text = repr(PackCIMInputs(algorithm_keys=('exemplar_corners', )))
    assert "algorithm_keys=('exemplar_corners',)" in text
    assert 'meta_keys=' in text
