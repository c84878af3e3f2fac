"""Mean squared error between sigmoid probabilities and binary targets."""
import torch
from mmpretrain.registry import MODELS

from .elementwise_loss import ElementwiseLoss


@MODELS.register_module()
class SigmoidMSELoss(ElementwiseLoss):
    """Squared error ``(sigmoid(pred) - target) ** 2`` per element.

    The "MSE" column of the CIM paper's Table 3.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """Logits and float targets of the same shape -> squared errors."""
        return (pred.sigmoid() - target)**2
