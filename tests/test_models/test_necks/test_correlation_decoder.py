import pytest
import torch
import torch.nn.functional as F

from cim_mm.models.necks import CorrelationDecoder
from cim_mm.models.necks.correlation_decoder import (ConvCorrelationBlock,
                                                     CrossAttentionBlock)


def _decoder(**kwargs):
    cfg = dict(in_channels=64, embed_dim=32, num_heads=2, out_size=160)
    cfg.update(kwargs)
    decoder = CorrelationDecoder(**cfg)
    decoder.eval()
    return decoder


def _vit_feats(batch_size=2, num_exemplars=3, dims=64):
    context = torch.randn(batch_size, 1 + 10 * 10, dims)
    exemplars = torch.randn(batch_size * num_exemplars, 1 + 4 * 4, dims)
    return context, exemplars


def _spy_on_predictor(decoder):
    """Record the token shape and grid the predictor receives."""
    seen, predict = {}, decoder._predict

    def spy(tokens, grid):
        seen.update(tokens=tuple(tokens.shape), grid=tuple(grid))
        return predict(tokens, grid)

    decoder._predict = spy
    return seen


def test_vit_tokens_give_one_map_per_exemplar():
    context, exemplars = _vit_feats()
    assert _decoder()(context, exemplars, 3).shape == (2, 3, 160, 160)


def test_cnn_feature_maps_are_flattened_without_cls():
    decoder = _decoder(in_channels=48)
    seen = _spy_on_predictor(decoder)
    logits = decoder(torch.randn(2, 48, 5, 5), torch.randn(6, 48, 2, 2), 3)
    assert logits.shape == (2, 3, 160, 160)
    assert seen == dict(tokens=(6, 25, 32), grid=(5, 5))


@pytest.mark.parametrize('exemplar_grid', [2, 4])
def test_prediction_grid_follows_the_context_not_the_exemplar(exemplar_grid):
    decoder = _decoder(out_size=10)
    seen = _spy_on_predictor(decoder)
    context = torch.randn(2, 1 + 10 * 10, 64)
    exemplars = torch.randn(6, 1 + exemplar_grid**2, 64)
    assert decoder(context, exemplars, 3).shape == (2, 3, 10, 10)
    assert seen == dict(tokens=(6, 100, 32), grid=(10, 10))


@pytest.mark.parametrize('correlation', ['cross_attention', 'convolution'])
def test_changing_an_exemplar_changes_only_its_own_map(correlation):
    decoder = _decoder(correlation=correlation)
    context, exemplars = _vit_feats()
    before = decoder(context, exemplars, 3)
    exemplars[4] = torch.randn_like(exemplars[4])  # sample 1, exemplar 1
    after = decoder(context, exemplars, 3)
    changed = (before - after).abs().flatten(2).amax(2) > 1e-6
    expected = torch.zeros(2, 3, dtype=torch.bool)
    expected[1, 1] = True
    assert torch.equal(changed, expected)


def test_changing_a_context_changes_only_its_exemplars_maps():
    decoder = _decoder()
    context, exemplars = _vit_feats()
    before = decoder(context, exemplars, 3)
    context[0] = torch.randn_like(context[0])
    after = decoder(context, exemplars, 3)
    changed = (before - after).abs().flatten(2).amax(2) > 1e-6
    assert changed[0].all() and not changed[1].any()


def test_cross_attention_ignores_exemplar_token_order_but_not_context_order():
    decoder = _decoder(out_size=10)
    context, exemplars = _vit_feats()
    reference = decoder(context, exemplars, 3)
    shuffled = exemplars[:, torch.randperm(exemplars.shape[1])]
    torch.testing.assert_close(decoder(context, shuffled, 3), reference)
    # queries carry the context grid: moving context tokens moves the map
    patches = context[:, 1:].reshape(2, 10, 10, 64).flip(1).reshape(2, 100, 64)
    flipped = torch.cat([context[:, :1], patches], dim=1)
    assert not torch.allclose(decoder(flipped, exemplars, 3), reference)


def test_cross_attention_block_computes_eq4_with_context_queries():
    block = CrossAttentionBlock(8, 2, 16, dict(type='LN', eps=1e-6))
    query, key_value = torch.randn(3, 5, 8), torch.randn(3, 7, 8)
    q = block.q(block.norm_query(query)).reshape(3, 5, 2, 4).transpose(1, 2)
    k, v = block.kv(block.norm_key_value(key_value)).reshape(
        3, 7, 2, 2, 4).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-2, -1) / 4**0.5, dim=-1)
    a = block.proj((weights @ v).transpose(1, 2).reshape(3, 5, 8))
    h = query + a
    expected = h + block.ffn.layers(block.norm_ffn(h))
    torch.testing.assert_close(block(query, key_value), expected)


@pytest.mark.filterwarnings('ignore:Using padding=.same.')
def test_conv_block_slides_each_exemplar_kernel_over_its_own_context():
    block = ConvCorrelationBlock(8, 16, dict(type='LN', eps=1e-6))
    context, kernel = torch.randn(3, 25, 8), torch.randn(3, 4, 8)
    responses = []
    for n in range(3):
        x = block.norm_context(context[n]).T.reshape(1, 8, 5, 5)
        w = block.norm_kernel(kernel[n]).T.reshape(8, 1, 2, 2)
        r = F.conv2d(x, w, padding='same', groups=8) / 4
        responses.append(r.reshape(8, 25).T)
    h = context + torch.stack(responses)
    expected = h + block.ffn.layers(block.norm_ffn(h))
    torch.testing.assert_close(block(context, kernel, (5, 5), (2, 2)),
                               expected)


def test_convolution_correlation_with_cnn_maps_has_output_shape():
    decoder = _decoder(in_channels=48, correlation='convolution')
    logits = decoder(torch.randn(2, 48, 5, 5), torch.randn(6, 48, 2, 2), 3)
    assert logits.shape == (2, 3, 160, 160)


def test_deconv_predictor_is_three_stride2_deconvs_then_1x1():
    decoder = _decoder(predictor='deconv')
    deconvs = [
        m for m in decoder.predictor.modules()
        if isinstance(m, torch.nn.ConvTranspose2d)
    ]
    assert [(m.in_channels, m.out_channels, m.stride) for m in deconvs] == [
        (32, 16, (2, 2)), (16, 8, (2, 2)), (8, 4, (2, 2))
    ]
    seen = {}
    decoder.predictor[-1].register_forward_hook(
        lambda m, args, out: seen.update(shape=out.shape))
    context, exemplars = _vit_feats()
    assert decoder(context, exemplars, 3).shape == (2, 3, 160, 160)
    assert seen['shape'] == (6, 1, 80, 80)


def test_depth_and_width_options():
    decoder = _decoder(embed_dim=48, depth=2, num_heads=4, mlp_ratio=2.)
    assert len(decoder.blocks) == 2
    assert decoder.blocks[0].num_heads == 4
    assert decoder.blocks[0].ffn.layers[0][0].out_features == 96
    context, exemplars = _vit_feats()
    assert decoder(context, exemplars, 3).shape == (2, 3, 160, 160)


def test_logits_are_differentiable_wrt_decoder_and_features():
    decoder = _decoder()
    decoder.train()
    context, exemplars = _vit_feats()
    context.requires_grad_(True)
    exemplars.requires_grad_(True)
    decoder(context, exemplars, 3).sum().backward()
    assert context.grad.abs().sum() > 0 and exemplars.grad.abs().sum() > 0
    assert all(p.grad is not None for p in decoder.parameters())


@pytest.mark.parametrize('kwargs, message', [
    (dict(correlation='dot'), 'correlation'),
    (dict(predictor='mlp'), 'predictor'),
    (dict(embed_dim=36, num_heads=8), 'divisible by num_heads'),
    (dict(embed_dim=36, num_heads=2, predictor='deconv'), 'multiple of 8'),
    (dict(depth=0), 'depth'),
    (dict(mlp_ratio=0), 'mlp_ratio'),
])
def test_invalid_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _decoder(**kwargs)


def test_tokens_that_are_not_a_square_grid_are_rejected():
    with pytest.raises(ValueError, match='square grid'):
        _decoder()(torch.randn(2, 1 + 12, 64), torch.randn(6, 17, 64), 3)


def test_wrong_number_of_exemplars_is_rejected():
    context, exemplars = _vit_feats()
    with pytest.raises(ValueError, match='exemplars'):
        _decoder()(context, exemplars, 2)
