"""cim_mm.checkpoint.release: recognising (release.recognition) and
converting (release.conversion) the CIM authors' release state dicts (pure
functions; end to end: tests/test_tools/test_cim_release_to_mmpretrain.py)."""
import os.path as osp
import sys

import pytest
import torch
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from cim_mm.checkpoint.release import conversion
from cim_mm.checkpoint.release import (ReleaseCheckpointError,
                                       convert_finetuned, convert_pretrained,
                                       release_arch, release_decoder_arch,
                                       release_kind, release_sincos_table,
                                       release_state_dict,
                                       sincos_channel_order)

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import cim_release  # noqa: E402  (tests/cim_release.py)


@pytest.fixture(scope='module')
def pre():
    return cim_release.pretrained_state()


@pytest.fixture(scope='module')
def ft():
    return cim_release.finetuned_state()


def shapes_only(dims, depth, patch=16, heads_dims=None):
    """A release ViT's encoder keys with zero-stride tensors (shapes only,
    no memory): enough for the arch detection."""

    def t(*shape):
        return torch.zeros(1).expand(*shape)

    mlp = 4 * dims
    state = {
        'cls_token': t(1, 1, dims),
        'pos_embed': t(1, 1 + (224 // patch)**2, dims),
        'patch_embed.proj.weight': t(dims, 3, patch, patch)
    }
    for i in range(depth):
        state[f'blocks.{i}.attn.qkv.weight'] = t(3 * dims, dims)
        state[f'blocks.{i}.mlp.fc1.weight'] = t(mlp, dims)
        state[f'blocks.{i}.mlp.fc2.weight'] = t(dims, mlp)
    return state


# ---------------------------------------------------------------------------
# The two sin-cos layouts
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('grid,dims', [(10, 512), (14, 192), (4, 768)])
def test_release_table_is_maes_and_mmpretrains_has_the_halves_swapped(
        grid, dims):
    table = release_sincos_table(grid, dims)
    expected = cim_release.mae_sincos(grid, dims)
    torch.testing.assert_close(table, expected, atol=1e-7, rtol=0)
    ours = build_2d_sincos_position_embedding(grid, dims, cls_token=True)
    assert (ours - table).abs().max() > 0.5  # not the same layout
    order = sincos_channel_order(grid, dims)
    assert sorted(order.tolist()) == list(range(dims))
    torch.testing.assert_close(table[..., order], ours, atol=1e-5, rtol=0)
    half = dims // 2
    torch.testing.assert_close(ours[..., :half],
                               table[..., half:],
                               atol=1e-5,
                               rtol=0)


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------
def test_the_three_containers_give_the_same_state_dict(pre):
    for container in (dict(model=pre, epoch=3), dict(state_dict=pre), pre):
        assert release_state_dict(container).keys() == pre.keys()
    with pytest.raises(ReleaseCheckpointError,
                       match="holds no state dict .*Expected a CIM release"):
        release_state_dict(dict(epoch=3, args=None), 'x.pth')


def test_kind(pre, ft):
    assert release_kind(pre) == 'pre-trained'
    assert release_kind(ft) == 'fine-tuned'


@pytest.mark.parametrize('change,message', [
    (lambda s: {
        f'module.{k}': v
        for k, v in s.items()
    }, "'module.*' keys"),
    (lambda s: {
        f'backbone.{k}': v
        for k, v in s.items()
    }, 'an mmpretrain model checkpoint'),
    (lambda s: dict(s, **{'neck.embed.weight': torch.zeros(1)}),
     'a cim_mm CIM checkpoint'),
    (lambda s: {
        'layers.0.ln1.weight': torch.zeros(1)
    }, 'an mmpretrain backbone'),
    (lambda s: dict(s, mask_token=torch.zeros(1)),
     'an MAE pre-training checkpoint'),
    (lambda s: {
        'conv1.weight': torch.zeros(1)
    }, 'not a timm-style ViT'),
    (lambda s: {
        k: v
        for k, v in s.items() if k != 'norm_c.weight'
    }, r"lacks \['norm_c.weight'\]"),
])
def test_other_checkpoints_are_named(pre, change, message):
    with pytest.raises(ReleaseCheckpointError, match=message) as err:
        release_kind(change(pre), 'x.pth')
    assert "'x.pth'" in str(err.value) and 'Found: ' in str(err.value)


def test_timm_classifiers_and_backbones_are_named(ft):
    cls_pooled = {k: v for k, v in ft.items() if not k.startswith('fc_norm')}
    cls_pooled.update({'norm.weight': torch.ones(192)})
    with pytest.raises(ReleaseCheckpointError, match='cls-token pooling'):
        release_kind(cls_pooled)
    backbone = {k: v for k, v in cls_pooled.items() if k[:5] != 'head.'}
    with pytest.raises(ReleaseCheckpointError, match='timm ViT backbone'):
        release_kind(backbone)


@pytest.mark.parametrize(
    'dims,depth,patch,name,heads',
    [
        (192, 12, 16, 'tiny', 3),
        (384, 12, 16, 'small', 6),
        (768, 12, 16, 'base', 12),
        (1024, 24, 16, 'large', 16),
        (1280, 32, 14, 'huge', 16),
        (768, 2, 16, None, 12),  # fewer blocks: converts, no release arch
    ])
def test_arch_from_the_shapes(dims, depth, patch, name, heads):
    arch = release_arch(shapes_only(dims, depth, patch))
    assert arch == dict(embed_dims=dims,
                        num_layers=depth,
                        num_heads=heads,
                        feedforward_channels=4 * dims,
                        patch_size=patch,
                        img_size=224,
                        name=name)


def test_arch_errors():
    with pytest.raises(ReleaseCheckpointError, match='pass --num-heads'):
        release_arch(shapes_only(100, 1))
    assert release_arch(shapes_only(100, 1), num_heads=4)['num_heads'] == 4
    with pytest.raises(ReleaseCheckpointError, match='do not divide'):
        release_arch(shapes_only(192, 1), num_heads=5)
    state = shapes_only(192, 2)
    state['blocks.0.attn.qkv.weight'] = torch.zeros(1).expand(192, 192)
    with pytest.raises(ReleaseCheckpointError,
                       match=r'blocks.0.attn.qkv.weight should be \(576, '
                       r'192\).*found \(192, 192\)'):
        release_arch(state)
    state = shapes_only(192, 3)
    state = {k: v for k, v in state.items() if not k.startswith('blocks.1.')}
    with pytest.raises(ReleaseCheckpointError, match=r'blocks \[0, 2\]'):
        release_arch(state)
    state = shapes_only(192, 1)
    state['pos_embed'] = torch.zeros(1, 1 + 15, 192)
    with pytest.raises(ReleaseCheckpointError, match='not a square grid'):
        release_arch(state)


def test_decoder_arch(pre):
    assert release_decoder_arch(pre) == dict(in_channels=192,
                                             embed_dim=512,
                                             num_heads=16,
                                             mlp_ratio=4.0,
                                             context_grid=10,
                                             patch_size=16)
    one_channel = dict(pre)
    one_channel['decoder_pred_mask.0.weight'] = torch.zeros(1, 512, 1, 1)
    with pytest.raises(ReleaseCheckpointError, match='to 2 classes'):
        release_decoder_arch(one_channel)


# ---------------------------------------------------------------------------
# Conversion arithmetic
# ---------------------------------------------------------------------------
def test_pretrained_conversion(pre):
    converted, report = convert_pretrained(pre)
    order = sincos_channel_order(10, 512)
    block = 'decoder_corr_block.block.'
    assert report['unused'] == []
    assert report['dropped'] == sorted(k for k in pre
                                       if k.startswith(('decoder_g_embed',
                                                        'decoder_predictor')))
    assert len(report['dropped']) == 42
    assert report['decoder_pos_embed_delta'] < 1e-6
    assert 'decoder_pos_embed' not in str(list(converted))
    # the shared LayerNorm in both, permuted like the stream
    for norm in ('norm_query', 'norm_key_value'):
        assert torch.equal(converted[f'neck.blocks.0.{norm}.weight'],
                           pre[block + 'norm1.weight'][order])
    # one logit: class 1 minus class 0
    weight, bias = (pre['decoder_pred_mask.0.weight'],
                    pre['decoder_pred_mask.0.bias'])
    assert torch.equal(converted['neck.predictor.weight'][0, :, 0, 0],
                       (weight[1] - weight[0])[order, 0, 0])
    assert torch.equal(converted['neck.predictor.bias'], bias[1:] - bias[:1])
    # the stream's rows and columns
    assert torch.equal(converted['neck.embed.weight'],
                       pre['decoder_embed.weight'][order])
    assert torch.equal(converted['neck.blocks.0.kv.weight'],
                       pre[block + 'attn.kv.weight'][:, order])
    assert torch.equal(converted['neck.blocks.0.q.bias'],
                       pre[block + 'attn.q.bias'])
    # the target shares the online cls token and position embedding
    for key in ('cls_token', 'pos_embed'):
        assert torch.equal(converted[f'target_backbone.{key}'], pre[key])
    assert torch.equal(converted['target_backbone.layers.1.ffn.layers.1.bias'],
                       pre['blocks_c.1.mlp.fc2.bias'])
    assert torch.equal(converted['backbone.ln1.weight'], pre['norm.weight'])
    assert torch.equal(converted['backbone.patch_embed.projection.weight'],
                       pre['patch_embed.proj.weight'])


def test_renaming_alone_would_give_another_decoder(pre, monkeypatch):
    """The permutation is what makes the decoder the release's: with the
    channels left in place the maps differ."""
    from mmpretrain.registry import MODELS

    import cim_mm  # noqa: F401
    decoder = MODELS.build(dict(type='CorrelationDecoder', in_channels=192))
    decoder.eval()
    gen = torch.Generator().manual_seed(0)
    context = torch.randn(1, 101, 192, generator=gen)
    exemplar = torch.randn(2, 17, 192, generator=gen)
    reference = cim_release.DecoderReference(pre)(context.repeat_interleave(
        2, 0), exemplar)

    def maps(converted):
        decoder.load_state_dict({
            k[len('neck.'):]: v
            for k, v in converted.items() if k.startswith('neck.')
        })
        with torch.no_grad():
            return decoder(context, exemplar, 2).sigmoid()[0]

    exact = (maps(convert_pretrained(pre)[0]) - reference).abs().max()
    monkeypatch.setattr(conversion, 'sincos_channel_order',
                        lambda grid, dims: torch.arange(dims))
    renamed = (maps(convert_pretrained(pre)[0]) - reference).abs().max()
    assert exact < 1e-5
    assert renamed > 1e-2


def test_learnt_decoder_pos_embed_is_refused(pre):
    state = dict(pre)
    state['decoder_pos_embed'] = pre['decoder_pos_embed'] + 1e-3
    with pytest.raises(ReleaseCheckpointError,
                       match='not the fixed 2-D sin-cos table of a 10x10'):
        convert_pretrained(state)


def test_finetuned_conversion(ft):
    converted, report = convert_finetuned(ft)
    assert report['unused'] == []
    assert torch.equal(converted['backbone.ln2.weight'], ft['fc_norm.weight'])
    assert torch.equal(converted['head.fc.weight'], ft['head.weight'])
    assert torch.equal(converted['backbone.layers.0.attn.qkv.weight'],
                       ft['blocks.0.attn.qkv.weight'])
    assert len(converted) == len(ft)
    assert not any(k.startswith('backbone.ln1') for k in converted)
