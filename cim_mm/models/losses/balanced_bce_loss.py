"""Class-balanced binary cross-entropy (HED, Xie & Tu, ICCV 2015)."""
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .elementwise_loss import ElementwiseLoss


@MODELS.register_module()
class BalancedBinaryCrossEntropyLoss(ElementwiseLoss):
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

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """Logits (..., H, W), float targets in {0, 1} -> weighted BCE
        (..., H, W)."""
        pos_fraction = target.mean(dim=(-2, -1), keepdim=True)
        weight = target * (1 - pos_fraction) + (1 - target) * pos_fraction
        return F.binary_cross_entropy_with_logits(
            pred, target, weight=weight, reduction='none')
