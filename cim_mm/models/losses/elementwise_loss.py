"""The reduction shared by the Table 3 map losses."""
import torch
import torch.nn as nn
from mmpretrain.models.losses import weight_reduce_loss

REDUCTIONS = ('none', 'mean', 'sum')


class ElementwiseLoss(nn.Module):
    """A loss computed per element of a map, then reduced and weighted.

    Subclasses define :meth:`elementwise`; :meth:`forward` returns
    ``loss_weight * reduce(elementwise(pred, target))`` with mmpretrain's
    ``weight_reduce_loss``.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'{type(self).__name__}: reduction must be one '
                             f'of {REDUCTIONS}, got {reduction!r}.')
        self.reduction = reduction
        self.loss_weight = loss_weight

    def elementwise(self, pred: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """Logits ``pred`` and ``target`` of the same shape -> the loss of
        each element (that shape)."""
        raise NotImplementedError

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                reduction_override: str = None) -> torch.Tensor:
        """Loss of logits ``pred`` against ``target`` (same shape, in
        {0, 1}): a scalar, or the element-wise loss for ``'none'``
        (``reduction_override``, else the module's ``reduction``)."""
        return self.loss_weight * weight_reduce_loss(
            self.elementwise(pred, target.type_as(pred)),
            reduction=reduction_override or self.reduction)
