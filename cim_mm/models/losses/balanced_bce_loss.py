"""Class-balanced binary cross-entropy (HED, Xie & Tu, ICCV 2015)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses import weight_reduce_loss
from mmpretrain.registry import MODELS


@MODELS.register_module()
class BalancedBinaryCrossEntropyLoss(nn.Module):
    """Per-pixel BCE on logits with HED's per-map class balancing.

    In each map (the last two dims) a positive pixel is weighted by the
    fraction of negative pixels and a negative pixel by the fraction of
    positive ones, so both classes contribute equally. A map with a single
    class therefore gives zero loss. This is the "BCE" column of the CIM
    paper's Table 3.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                reduction_override: str = None) -> torch.Tensor:
        """Loss of logits ``pred`` (..., H, W) against ``target`` in {0, 1}.

        Returns a scalar, or the element-wise loss (..., H, W) for
        ``reduction='none'``.
        """
        target = target.type_as(pred)
        pos_fraction = target.mean(dim=(-2, -1), keepdim=True)
        weight = target * (1 - pos_fraction) + (1 - target) * pos_fraction
        loss = F.binary_cross_entropy_with_logits(
            pred, target, weight=weight, reduction='none')
        return self.loss_weight * weight_reduce_loss(
            loss, reduction=reduction_override or self.reduction)
