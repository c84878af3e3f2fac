import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from cim_mm.models.backbones import CIMViT

TINY_VIT = dict(
    embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)


def _tiny_vit(**kwargs):
    model = CIMViT(arch=TINY_VIT, **kwargs)
    model.init_weights()
    model.eval()  # BaseBackbone.train() returns None: no chaining
    return model


def test_pos_embed_is_fixed_2d_sincos_for_the_img_size_grid():
    model = _tiny_vit()
    assert not model.pos_embed.requires_grad
    expected = build_2d_sincos_position_embedding(14, 64, cls_token=True)
    torch.testing.assert_close(model.pos_embed.data, expected)
    assert torch.all(model.pos_embed[:, 0] == 0)


def test_patch_embed_frozen_only_when_asked():
    frozen = _tiny_vit()
    assert not any(p.requires_grad for p in frozen.patch_embed.parameters())
    trainable = _tiny_vit(freeze_patch_embed=False)
    assert all(p.requires_grad for p in trainable.patch_embed.parameters())
    assert trainable.layers[0].attn.qkv.bias is not None  # qkv bias


def test_exemplar_and_context_inputs_give_raw_tokens_with_cls():
    model = _tiny_vit()
    for size, num_tokens in ((64, 1 + 16), (160, 1 + 100)):
        out = model(torch.randn(2, 3, size, size))
        assert isinstance(out, tuple)
        assert out[-1].shape == (2, num_tokens, 64)


def test_pos_embed_is_resized_bicubically_to_the_input_grid():
    model = _tiny_vit()
    seen = {}
    model.drop_after_pos.register_forward_hook(
        lambda m, args, out: seen.update(tokens=args[0]))
    x = torch.randn(1, 3, 64, 64)
    model(x)
    patches = model.patch_embed(x)[0]
    grid = model.pos_embed[:, 1:].reshape(1, 14, 14, 64).permute(0, 3, 1, 2)
    resized = F.interpolate(
        grid, size=(4, 4), mode='bicubic', align_corners=False)
    expected = torch.cat([
        model.cls_token + model.pos_embed[:, :1],
        patches + resized.flatten(2).transpose(1, 2)
    ], dim=1)
    torch.testing.assert_close(seen['tokens'], expected)


def test_state_dict_loads_strictly_into_plain_vision_transformer():
    model = _tiny_vit()
    plain = VisionTransformer(arch=TINY_VIT, out_type='raw')
    plain.eval()
    plain.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(plain(x)[-1], model(x)[-1])


def test_vit_small_is_the_deit_small_arch():
    model = CIMViT(arch='deit-small')
    assert model.embed_dims == 384 and model.num_layers == 12
    assert model.arch_settings['num_heads'] == 6
    assert model.arch_settings['feedforward_channels'] == 1536


def test_scale_factor_resize_is_the_release_one():
    """pos_embed_scale_offset=0.1: F.interpolate(scale_factor=(g + 0.1) /
    14) per side (the CIM release, as DINO / MAE); not size= resizing."""
    plain = _tiny_vit()
    release = _tiny_vit(pos_embed_scale_offset=0.1)
    release.load_state_dict(plain.state_dict())
    seen = {}
    release.drop_after_pos.register_forward_hook(
        lambda m, args, out: seen.update(tokens=args[0]))
    grid = release.pos_embed[:, 1:].reshape(1, 14, 14, 64).permute(0, 3, 1, 2)
    for size in (64, 160):
        g = size // 16
        x = torch.randn(2, 3, size, size)
        out = release(x)
        resized = F.interpolate(grid, scale_factor=((g + 0.1) / 14, ) * 2,
                                mode='bicubic')
        expected = torch.cat([
            release.cls_token.expand(2, -1, -1) + release.pos_embed[:, :1],
            release.patch_embed(x)[0] + resized.flatten(2).transpose(1, 2)
        ], dim=1)
        torch.testing.assert_close(seen['tokens'], expected, atol=0, rtol=0)
        assert out[-1].shape == (2, 1 + g * g, 64)
        assert (out[-1] - plain(x)[-1]).abs().max() > 1e-3
    x = torch.randn(1, 3, 224, 224)  # the table's own grid: no resize
    torch.testing.assert_close(release(x)[-1], plain(x)[-1], atol=0, rtol=0)


def test_scale_factor_resize_keeps_out_types():
    model = _tiny_vit(pos_embed_scale_offset=0.1, out_type='featmap',
                      out_indices=(0, 1))
    outs = model(torch.randn(2, 3, 160, 160))
    assert [o.shape for o in outs] == [(2, 64, 10, 10)] * 2


def test_bad_scale_offset_names_the_argument():
    with pytest.raises(ValueError, match='pos_embed_scale_offset must be'):
        CIMViT(arch=TINY_VIT, pos_embed_scale_offset=1.5)


def test_pretrained_init_keeps_the_loaded_pos_embed(tmp_path):
    """init_cfg=dict(type='Pretrained'): the checkpoint's position
    embedding (e.g. the release's layout) is not rebuilt."""
    source = _tiny_vit()
    state = source.state_dict()
    state['pos_embed'] = torch.randn_like(state['pos_embed'])
    path = str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict=state), path)
    model = CIMViT(arch=TINY_VIT,
                   init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert torch.equal(model.pos_embed, state['pos_embed'])
    assert torch.equal(model.layers[0].attn.qkv.weight,
                       state['layers.0.attn.qkv.weight'])
    assert not model.pos_embed.requires_grad
