"""Mean squared error between sigmoid probabilities and binary targets."""
import torch
import torch.nn as nn
from mmpretrain.models.losses import weight_reduce_loss
from mmpretrain.registry import MODELS


@MODELS.register_module()
class SigmoidMSELoss(nn.Module):
    """Squared error ``(sigmoid(pred) - target) ** 2`` per element.

    The "MSE" column of the CIM paper's Table 3.

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
        """Loss of logits ``pred`` against ``target`` of the same shape.

        Returns a scalar, or the element-wise loss for ``reduction='none'``.
        """
        loss = (pred.sigmoid() - target.type_as(pred))**2
        return self.loss_weight * weight_reduce_loss(
            loss, reduction=reduction_override or self.reduction)
