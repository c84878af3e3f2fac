"""SigmoidMSELoss (Table 3): squared error of the probabilities."""
import pytest
import torch
from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401


def _maps(batch_size=2, num_exemplars=3, size=8):
    logits = torch.randn(batch_size, num_exemplars, size, size)
    target = torch.randint(0, 2, logits.shape, dtype=torch.uint8)
    return logits, target


def test_sigmoid_mse_is_squared_error_of_probabilities():
    logits, target = _maps()
    loss_module = MODELS.build(dict(type='SigmoidMSELoss'))
    torch.testing.assert_close(
        loss_module(logits, target),
        ((logits.sigmoid() - target.float())**2).mean())


def test_sigmoid_mse_gradient_vanishes_at_the_target():
    target = torch.tensor([[[[1, 0]]]], dtype=torch.uint8)
    loss_module = MODELS.build(dict(type='SigmoidMSELoss'))
    far = torch.tensor([[[[-8., 8.]]]], requires_grad=True)
    near = torch.tensor([[[[30., -30.]]]], requires_grad=True)
    loss_module(far, target).backward()
    loss_module(near, target).backward()
    assert near.grad.abs().max() < 1e-6 < far.grad.abs().min()


def test_reductions_weight_and_a_bad_reduction():
    torch.manual_seed(0)
    logits, target = _maps()
    loss_module = MODELS.build(dict(type='SigmoidMSELoss', loss_weight=3.))
    pixels = loss_module(logits, target, reduction_override='none')
    assert pixels.shape == logits.shape
    torch.testing.assert_close(
        loss_module(logits, target, reduction_override='sum'), pixels.sum())
    torch.testing.assert_close(loss_module(logits, target), pixels.mean())
    with pytest.raises(ValueError, match="reduction must be one of"):
        MODELS.build(dict(type='SigmoidMSELoss', reduction='avg'))
