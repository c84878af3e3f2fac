"""Losses for the CIM ablations (Table 3) that mmpretrain lacks.

Plain per-pixel BCE and focal loss come from mmpretrain:
``dict(type='CrossEntropyLoss', use_sigmoid=True)`` and
``dict(type='FocalLoss')`` both work element-wise on (B, K, H, W) maps.
"""
from .balanced_bce_loss import BalancedBinaryCrossEntropyLoss
from .sigmoid_mse_loss import SigmoidMSELoss

__all__ = ['BalancedBinaryCrossEntropyLoss', 'SigmoidMSELoss']
