"""cim_mm.checkpoint.verification: the target model is built from the
weights' architecture and a converted state dict loads into it strictly."""
import pytest
import torch

from cim_mm.checkpoint import (CONVERTERS, CheckpointConversionError,
                               build_target_model, expected_missing_keys,
                               timm_model_args, verify_conversion)


@pytest.mark.parametrize('to', ['mmpretrain', 'mmseg', 'timm'])
def test_converted_synthetic_vit_fills_the_built_model_exactly(
        to, vit_backbone):
    backbone = vit_backbone(dims=64, layers=2, mlp=128, patch=4, grid=4)
    model = build_target_model(to, backbone)
    report = verify_conversion(model, CONVERTERS[to](backbone),
                               expected_missing_keys(to, 'vit'))
    assert report['ok'], report
    assert report['missing'] == [] and report['unexpected'] == []


def test_missing_unexpected_and_misshapen_keys_are_reported(vit_backbone):
    backbone = vit_backbone(dims=64, layers=2, mlp=128, patch=4, grid=4)
    model = build_target_model('mmpretrain', backbone)
    converted = CONVERTERS['mmpretrain'](backbone)
    converted.pop('layers.1.attn.proj.bias')
    converted['layers.9.extra'] = torch.zeros(1)
    report = verify_conversion(model, converted)
    assert report['missing'] == ['layers.1.attn.proj.bias']
    assert report['unexpected'] == ['layers.9.extra']
    assert not report['ok']
    converted = CONVERTERS['mmpretrain'](backbone)
    converted['cls_token'] = torch.zeros(1, 1, 32)
    with pytest.raises(CheckpointConversionError,
                       match='do not fit VisionTransformer'):
        verify_conversion(model, converted)


def test_timm_call_names_a_standard_arch_or_the_needed_kwargs(vit_backbone):
    base = vit_backbone(dims=768, layers=12, mlp=3072, patch=16, grid=14)
    assert timm_model_args(base) == ('vit_base_patch16_224', {})
    small = vit_backbone(dims=64, layers=2, mlp=128, patch=4, grid=4)
    name, kwargs = timm_model_args(small)
    assert kwargs == dict(embed_dim=64,
                          depth=2,
                          num_heads=1,
                          mlp_ratio=2.0,
                          patch_size=4,
                          img_size=16)
