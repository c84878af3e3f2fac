"""PackCIMInputs -> default_collate -> SelfSupDataPreprocessor."""
import random

import numpy as np
import pytest
import skimage.data
import torch
from mmengine.dataset import default_collate

from cim_mm.datasets.transforms import CorrelationalCrop, PackCIMInputs
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.structures import DataSample

M, N, K = 160, 64, 6
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


@pytest.fixture(scope='module')
def crops():
    """Two CorrelationalCrop outputs of real photos, with loading metadata."""
    np.random.seed(0)
    random.seed(0)
    transform = CorrelationalCrop()
    out = []
    for idx, image in enumerate([skimage.data.astronaut(),
                                 skimage.data.coffee()]):
        bgr = image[..., ::-1].copy()
        out.append(
            transform(
                dict(
                    img=bgr,
                    img_path=f'photo{idx}.png',
                    sample_idx=idx,
                    ori_shape=bgr.shape[:2],
                    img_shape=bgr.shape[:2])))
    return out


def test_pack_gives_context_then_exemplars_as_chw_uint8(crops):
    packed = PackCIMInputs()(dict(crops[0]))
    inputs = packed['inputs']
    assert [tuple(x.shape) for x in inputs] == [(3, M, M)] + [(3, N, N)] * K
    assert all(x.dtype == torch.uint8 and x.is_contiguous() for x in inputs)
    np.testing.assert_array_equal(inputs[0].permute(1, 2, 0).numpy(),
                                  crops[0]['context'])
    for k in range(K):
        np.testing.assert_array_equal(inputs[1 + k].permute(1, 2, 0).numpy(),
                                      crops[0]['exemplars'][k])


def test_pack_puts_maps_corners_and_meta_in_the_data_sample(crops):
    sample = PackCIMInputs()(dict(crops[0]))['data_samples']
    assert isinstance(sample, DataSample)
    assert sample.corr_maps.dtype == torch.uint8
    assert tuple(sample.corr_maps.shape) == (K, M, M)
    np.testing.assert_array_equal(sample.corr_maps.numpy(),
                                  crops[0]['corr_maps'])
    assert sample.exemplar_corners.dtype == torch.float32
    assert tuple(sample.exemplar_corners.shape) == (K, 4, 2)
    assert sample.exemplar_flipped.dtype == torch.bool
    assert sample.img_path == 'photo0.png'
    assert sample.sample_idx == 0
    assert sample.ori_shape == (512, 512)
    assert sample.img_shape == (M, M)
    assert 'corr_maps' not in sample.metainfo_keys()


def test_meta_keys_are_configurable(crops):
    sample = PackCIMInputs(meta_keys=('img_path', ))(dict(
        crops[0]))['data_samples']
    assert sample.metainfo_keys() == ['img_path']


def test_collated_batch_preprocesses_to_k_plus_1_normalised_rgb_tensors(
        crops):
    pack = PackCIMInputs()
    batch = default_collate([pack(dict(c)) for c in crops])
    preprocessor = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    data = preprocessor(batch)
    inputs, samples = data['inputs'], data['data_samples']

    assert isinstance(inputs, list) and len(inputs) == K + 1
    assert [tuple(x.shape) for x in inputs] == [(2, 3, M, M)] + \
        [(2, 3, N, N)] * K
    assert all(x.dtype == torch.float32 for x in inputs)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    for b, crop in enumerate(crops):
        views = [crop['context'], *crop['exemplars']]
        for view, got in zip(views, inputs):
            rgb = torch.from_numpy(view[..., ::-1].copy()).permute(2, 0, 1)
            torch.testing.assert_close(got[b], (rgb.float() - mean) / std)

    assert len(samples) == 2
    for crop, sample in zip(crops, samples):
        np.testing.assert_array_equal(sample.corr_maps.numpy(),
                                      crop['corr_maps'])


def test_repr_lists_the_arguments():
    text = repr(PackCIMInputs(algorithm_keys=('corr_maps', )))
    assert "algorithm_keys=('corr_maps',)" in text and 'meta_keys=' in text
