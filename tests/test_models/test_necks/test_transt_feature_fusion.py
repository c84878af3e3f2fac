"""TransTFeatureFusion: TransT's ECA/CFA fusion of exemplar and context
tokens."""
import pytest
import torch

from cim_mm.models.necks import TransTFeatureFusion
from cim_mm.models.necks.transt_feature_fusion import (CrossFeatureAugment,
                                                       EgoContextAugment)


def _neck(**kwargs):
    cfg = dict(in_channels=16, embed_dim=32, num_heads=4, num_layers=2,
               feedforward_channels=64)
    cfg.update(kwargs)
    neck = TransTFeatureFusion(**cfg)
    neck.eval()
    return neck


def _vit_feats(batch_size=2, num_exemplars=3, dims=16):
    context = torch.randn(batch_size, 1 + 10 * 10, dims)
    exemplars = torch.randn(batch_size * num_exemplars, 1 + 4 * 4, dims)
    return context, exemplars


def test_output_is_the_fused_context_grid_per_exemplar():
    context, exemplars = _vit_feats()
    assert _neck()(context, exemplars, 3).shape == (2, 3, 32, 10, 10)


def test_transt_structure_eca_and_cfa_per_branch_then_one_cfa():
    neck = TransTFeatureFusion(in_channels=768)
    assert (neck.embed_dim, len(neck.layers)) == (256, 4)  # TransT's
    layer = neck.layers[0]
    assert isinstance(layer.eca_context, EgoContextAugment)
    assert isinstance(layer.cfa_context, CrossFeatureAugment)
    assert layer.eca_context is not layer.eca_exemplar
    assert isinstance(neck.decoder, CrossFeatureAugment)
    assert layer.cfa_context.attn.num_heads == 8
    assert layer.cfa_context.ffn[0].out_features == 2048


def test_each_output_depends_on_its_own_exemplar_only():
    neck = _neck()
    context, exemplars = _vit_feats()
    out = neck(context, exemplars, 3)
    changed = exemplars.clone()
    changed[4] = torch.randn_like(changed[4])  # sample 1, exemplar 1
    out2 = neck(context, changed, 3)
    differs = (out - out2).flatten(2).abs().amax(-1) > 1e-6
    assert differs.tolist() == [[False, False, False], [False, True, False]]


def test_cls_tokens_are_dropped_and_maps_are_accepted():
    neck = _neck()
    context, exemplars = _vit_feats()

    def maps(tokens):
        side = int((tokens.shape[1] - 1)**0.5)
        return tokens[:, 1:].transpose(1, 2).reshape(
            len(tokens), -1, side, side)

    torch.testing.assert_close(
        neck(maps(context), maps(exemplars), 3), neck(context, exemplars, 3))


def test_gradient_reaches_context_and_exemplars():
    neck = _neck()
    context, exemplars = _vit_feats()
    context.requires_grad_(True)
    exemplars.requires_grad_(True)
    neck(context, exemplars, 3).square().sum().backward()
    assert context.grad.abs().sum() > 0 and exemplars.grad.abs().sum() > 0


def test_widths_are_checked():
    with pytest.raises(ValueError, match='multiple'):
        TransTFeatureFusion(in_channels=16, embed_dim=30, num_heads=3)
    with pytest.raises(ValueError, match='exemplars'):
        _neck()(*_vit_feats(), 2)
