"""CIM with timm encoders through mmpretrain's TIMMBackbone (no download)."""
import pytest
import torch
from mmpretrain.registry import MODELS


@pytest.mark.parametrize('backbone, channels', [
    # a CNN: the last feature map (2x2 exemplar, 5x5 context) as tokens
    (dict(type='TIMMBackbone', model_name='resnet18', features_only=True,
          out_indices=(4, ), pretrained=False), 512),
    # a ViT: tokens with cls; dynamic_img_size resizes its position embedding
    (dict(type='TIMMBackbone', model_name='vit_tiny_patch16_224',
          pretrained=False, dynamic_img_size=True, depth=2), 192),
])
def test_cim_trains_with_a_timm_backbone(backbone, channels, tiny_cim_cfg,
                                         make_batch):
    cfg = tiny_cim_cfg(backbone=backbone)
    cfg['neck']['in_channels'] = channels
    model = MODELS.build(cfg)
    model.init_weights()
    inputs, data_samples = make_batch(batch_size=2, num_exemplars=2)
    loss = model.loss(inputs, data_samples)['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in model.target_backbone.parameters())
    assert any(p.grad is not None for p in model.backbone.parameters())
