"""CorrelationHead: Eq. 7 and the Table 3 losses on correlation maps."""
import pytest
import torch
from mmpretrain.registry import MODELS

from cim_mm.models.heads import CorrelationHead


def _maps(batch_size=2, num_exemplars=3, size=8):
    logits = torch.randn(batch_size, num_exemplars, size, size)
    target = torch.randint(0, 2, logits.shape, dtype=torch.uint8)
    return logits, target


def _eq7(logits, target):
    """Eq. 7 per map: mean over pixels of -(y log p + (1-y) log(1-p))."""
    p, y = logits.sigmoid(), target.float()
    return -(y * p.log() + (1 - y) * (1 - p).log()).flatten(2).mean(2)


def test_default_loss_is_eq7_summed_over_exemplars_mean_over_batch():
    logits, target = _maps()
    loss = CorrelationHead().loss(logits, target)
    torch.testing.assert_close(loss, _eq7(logits, target).sum(1).mean())


def test_exemplar_mean_reduction_divides_by_k():
    logits, target = _maps()
    loss = CorrelationHead(exemplar_reduction='mean').loss(logits, target)
    torch.testing.assert_close(loss, _eq7(logits, target).mean())


@pytest.mark.parametrize('loss', [
    dict(type='CrossEntropyLoss', use_sigmoid=True),
    dict(type='BalancedBinaryCrossEntropyLoss'),
    dict(type='SigmoidMSELoss'),
    dict(type='FocalLoss'),
])
def test_table3_losses_build_from_config_and_give_gradients(loss):
    head = MODELS.build(dict(type='CorrelationHead', loss=loss))
    logits, target = _maps()
    logits.requires_grad_(True)
    value = head.loss(logits, target)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    assert logits.grad.abs().sum() > 0


def test_mismatched_shapes_are_rejected():
    logits, target = _maps()
    with pytest.raises(ValueError, match='share one'):
        CorrelationHead().loss(logits, target[:, :2])


def test_invalid_exemplar_reduction_is_rejected():
    with pytest.raises(ValueError, match='exemplar_reduction'):
        CorrelationHead(exemplar_reduction='max')
