"""BalancedBinaryCrossEntropyLoss (Table 3): each class weighted by the
other class's pixel fraction."""
import math

import torch
from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401


def test_balanced_bce_weights_each_class_by_the_other_class_fraction():
    loss_module = MODELS.build(dict(type='BalancedBinaryCrossEntropyLoss'))
    target = torch.tensor([[[[1, 0], [0, 0]]]], dtype=torch.uint8)
    pixel_loss = loss_module(
        torch.zeros(1, 1, 2, 2), target, reduction_override='none')
    log2 = math.log(2)
    expected = torch.tensor([[[[0.75, 0.25], [0.25, 0.25]]]]) * log2
    torch.testing.assert_close(pixel_loss, expected)


def test_balanced_bce_reductions_and_weight():
    loss_module = MODELS.build(dict(type='BalancedBinaryCrossEntropyLoss'))
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 2, logits.shape, dtype=torch.uint8)
    pixels = loss_module(logits, target, reduction_override='none')
    assert pixels.shape == logits.shape
    torch.testing.assert_close(
        loss_module(logits, target, reduction_override='mean'), pixels.mean())
    torch.testing.assert_close(
        loss_module(logits, target, reduction_override='sum'), pixels.sum())
    doubled = MODELS.build(
        dict(type='BalancedBinaryCrossEntropyLoss', loss_weight=2.0))
    torch.testing.assert_close(doubled(logits, target), 2 * pixels.mean())


def test_single_class_map_gives_zero_loss():
    loss_module = MODELS.build(dict(type='BalancedBinaryCrossEntropyLoss'))
    logits = torch.randn(1, 2, 4, 4)
    target = torch.zeros(1, 2, 4, 4, dtype=torch.uint8)
    target[:, 1] = 1
    assert loss_module(logits, target).item() == 0
