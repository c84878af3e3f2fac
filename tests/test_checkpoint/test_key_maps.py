"""cim_mm.checkpoint.key_maps: pure name mappings, on synthetic state dicts
(no model is built, no file is read)."""
import pytest
import torch

from cim_mm.checkpoint import (CONVERTERS, CheckpointConversionError,
                               backbone_kind, encoder_state_dict,
                               expected_missing_keys, mmpretrain_backbone,
                               mmpretrain_to_mmseg, mmpretrain_to_timm,
                               resnet_depth, source_state_dict, vit_arch)


def test_source_state_dict_accepts_runner_and_plain_dicts():
    weights = {'backbone.w': torch.zeros(1)}
    assert source_state_dict(dict(state_dict=weights, meta={})) == weights
    assert source_state_dict(weights) == weights
    with pytest.raises(CheckpointConversionError, match="'x.pth' holds no"):
        source_state_dict(dict(meta={}), 'x.pth')


def test_encoder_state_dict_strips_the_chosen_prefix():
    state = {
        'backbone.a': torch.zeros(1),
        'target_backbone.a': torch.ones(1),
        'neck.b': torch.zeros(1)
    }
    assert list(encoder_state_dict(state, 'online')) == ['a']
    assert torch.equal(encoder_state_dict(state, 'target')['a'], torch.ones(1))
    with pytest.raises(CheckpointConversionError,
                       match=r'use --encoder online'):
        encoder_state_dict({'backbone.a': torch.zeros(1)}, 'target')
    with pytest.raises(ValueError, match='encoder must be one of'):
        encoder_state_dict(state, 'ema')


def test_architecture_is_read_from_names_and_shapes(vit_backbone,
                                                    resnet_backbone):
    arch = vit_arch(vit_backbone(dims=8, layers=3, mlp=24, patch=4, grid=5))
    assert arch == dict(embed_dims=8,
                        num_layers=3,
                        feedforward_channels=24,
                        patch_size=4,
                        img_size=20,
                        final_norm=True,
                        avg_featmap_norm=False)
    assert backbone_kind(vit_backbone()) == 'vit'
    assert backbone_kind(resnet_backbone()) == 'resnet'
    assert resnet_depth(resnet_backbone((2, 2, 2, 2))) == 18
    assert resnet_depth(resnet_backbone((3, 4, 6, 3), bottleneck=True)) == 50
    with pytest.raises(CheckpointConversionError, match='Unknown ResNet'):
        resnet_depth(resnet_backbone((1, 1, 1, 1)))
    with pytest.raises(CheckpointConversionError, match='neither'):
        backbone_kind({'fc.weight': torch.zeros(1)})


def test_vit_names_for_timm(vit_backbone):
    converted = mmpretrain_to_timm(vit_backbone(layers=1))
    assert sorted(converted) == sorted([
        'cls_token', 'pos_embed', 'patch_embed.proj.weight',
        'patch_embed.proj.bias', 'blocks.0.norm1.weight',
        'blocks.0.norm1.bias', 'blocks.0.norm2.weight', 'blocks.0.norm2.bias',
        'blocks.0.attn.qkv.weight', 'blocks.0.attn.qkv.bias',
        'blocks.0.attn.proj.weight', 'blocks.0.attn.proj.bias',
        'blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc1.bias',
        'blocks.0.mlp.fc2.weight', 'blocks.0.mlp.fc2.bias', 'norm.weight',
        'norm.bias'
    ])


def test_vit_names_for_mmseg_mae_add_unit_layer_scale(vit_backbone):
    backbone = vit_backbone(dims=8, layers=2)
    backbone['ln2.weight'] = torch.zeros(8)  # a classifier's pooled norm
    converted = mmpretrain_to_mmseg(backbone)
    assert 'ln2.weight' not in converted
    kept = set(backbone) - {'ln2.weight'}
    assert kept <= set(converted)  # mmseg's MAE uses mmpretrain's names
    assert set(converted) - kept == {
        f'layers.{i}.gamma_{j}'
        for i in range(2)
        for j in (1, 2)
    }
    assert torch.equal(converted['layers.1.gamma_2'], torch.ones(8))


def test_resnet_names_stay_and_mmpretrain_target_is_the_identity(
        vit_backbone, resnet_backbone):
    backbone = resnet_backbone()
    for convert in (mmpretrain_to_timm, mmpretrain_to_mmseg,
                    mmpretrain_backbone):
        assert convert(backbone).keys() == backbone.keys()
    assert mmpretrain_backbone(vit_backbone()).keys() == vit_backbone().keys()
    assert set(CONVERTERS) == {'mmpretrain', 'mmseg', 'timm'}


def test_unknown_key_is_an_error_naming_it_and_progress_counts_keys(
        vit_backbone):
    backbone = vit_backbone(layers=1)
    calls = []
    mmpretrain_to_timm(backbone, lambda: calls.append(1))
    assert len(calls) == len(backbone)
    backbone['layers.0.extra.weight'] = torch.zeros(1)
    for convert in (mmpretrain_to_timm, mmpretrain_to_mmseg):
        with pytest.raises(CheckpointConversionError,
                           match="'layers.0.extra.weight'"):
            convert(backbone)


def test_timm_refuses_the_pooled_feature_norm(vit_backbone):
    backbone = vit_backbone()
    backbone['ln2.weight'] = torch.zeros(8)
    with pytest.raises(CheckpointConversionError, match="'ln2'"):
        mmpretrain_to_timm(backbone)


def test_expected_missing_keys_per_target():
    assert expected_missing_keys('timm', 'vit') == [r'^head\.']
    assert expected_missing_keys('timm', 'resnet') == [r'^fc\.']
    assert expected_missing_keys('mmpretrain', 'vit') == []
    assert expected_missing_keys('mmseg', 'resnet') == []
    assert 'relative_position' in expected_missing_keys('mmseg', 'vit')[0]
