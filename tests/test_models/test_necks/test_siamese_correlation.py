"""SiameseCorrelation: SiamFC's plain and SiamRPN++'s depth-wise
cross-correlation of the token maps."""
import pytest
import torch
import torch.nn.functional as F

from cim_mm.models.necks import SiameseCorrelation


def _vit_feats(batch_size=2, num_exemplars=3, dims=16):
    context = torch.randn(batch_size, 1 + 10 * 10, dims)
    exemplars = torch.randn(batch_size * num_exemplars, 1 + 4 * 4, dims)
    return context, exemplars


def _maps(tokens):
    """(N, 1 + h*w, C) -> (N, C, h, w) without the cls token."""
    side = int((tokens.shape[1] - 1)**0.5)
    return tokens[:, 1:].transpose(1, 2).reshape(len(tokens), -1, side, side)


def test_plain_correlation_is_each_exemplar_slid_over_its_context():
    neck = SiameseCorrelation(in_channels=16)
    context, exemplars = _vit_feats()
    scores = neck(context, exemplars, 3)
    assert scores.shape == (2, 3, 7, 7)  # 10 - 4 + 1, no padding
    # by hand, pair by pair, then SiamFC's adjust: 1e-3 x + 0
    for b in range(2):
        for k in range(3):
            kernel = _maps(exemplars[b * 3 + k:b * 3 + k + 1])
            expected = F.conv2d(_maps(context[b:b + 1]), kernel)[0, 0]
            torch.testing.assert_close(scores[b, k], 1e-3 * expected,
                                       rtol=1e-4, atol=1e-6)


def test_depthwise_correlation_keeps_one_response_per_channel():
    neck = SiameseCorrelation(in_channels=16, correlation='depthwise')
    context, exemplars = _vit_feats()
    response = neck(context, exemplars, 3)
    assert response.shape == (2, 3, 16, 7, 7)
    b, k, d = 1, 2, 5
    expected = F.conv2d(
        _maps(context[b:b + 1])[:, d:d + 1],
        _maps(exemplars[b * 3 + k:b * 3 + k + 1])[:, d:d + 1])[0, 0]
    torch.testing.assert_close(response[b, k, d], expected, rtol=1e-4,
                               atol=1e-5)


def test_shared_projection_sets_the_width_and_maps_work_like_tokens():
    neck = SiameseCorrelation(in_channels=16, embed_dim=8,
                              correlation='depthwise')
    neck.eval()
    context, exemplars = _vit_feats()
    response = neck(context, exemplars, 3)
    assert response.shape == (2, 3, 8, 7, 7)
    torch.testing.assert_close(
        neck(_maps(context), _maps(exemplars), 3), response)
    # one projection serves both sides (Siamese)
    assert sum(1 for _ in neck.project.modules()
               if isinstance(_, torch.nn.Conv2d)) == 1


def test_gradient_reaches_both_inputs():
    neck = SiameseCorrelation(in_channels=16)
    context, exemplars = _vit_feats()
    context.requires_grad_(True)
    exemplars.requires_grad_(True)
    neck(context, exemplars, 3).sum().backward()
    assert context.grad[:, 1:].abs().sum() > 0
    assert exemplars.grad[:, 1:].abs().sum() > 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='correlation'):
        SiameseCorrelation(in_channels=16, correlation='up_channel')
    neck = SiameseCorrelation(in_channels=16)
    context, exemplars = _vit_feats()
    with pytest.raises(ValueError, match='exemplars'):
        neck(context, exemplars, 2)
    with pytest.raises(ValueError, match='exceeds'):
        neck(exemplars[:2], context.repeat_interleave(3, 0), 3)
