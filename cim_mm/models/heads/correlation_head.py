"""Loss of predicted against true correlation maps (the paper's Eq. 7)."""
import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CorrelationHead(BaseModule):
    """Head for CIM pre-training: a per-pixel loss on correlation maps.

    The loss module gives an element-wise loss (it is called with
    ``reduction_override='none'``); the head averages it over the pixels of
    each map, reduces it over the K exemplars of a context and averages over
    the batch. The CIM release sums over exemplars.

    Args:
        loss (dict): Config of the element-wise loss on logits. Defaults to
            per-pixel binary cross-entropy,
            ``dict(type='CrossEntropyLoss', use_sigmoid=True)``. Table 3
            alternatives: ``dict(type='BalancedBinaryCrossEntropyLoss')``,
            ``dict(type='SigmoidMSELoss')``, ``dict(type='FocalLoss')``.
        exemplar_reduction (str): ``'sum'`` or ``'mean'`` over the K
            exemplars of a context. Defaults to ``'sum'``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    EXEMPLAR_REDUCTIONS = ('sum', 'mean')

    def __init__(self,
                 loss: dict = dict(type='CrossEntropyLoss', use_sigmoid=True),
                 exemplar_reduction: str = 'sum',
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if exemplar_reduction not in self.EXEMPLAR_REDUCTIONS:
            raise ValueError(
                f'CorrelationHead: exemplar_reduction must be one of '
                f'{self.EXEMPLAR_REDUCTIONS}, got {exemplar_reduction!r}.')
        self.exemplar_reduction = exemplar_reduction
        self.loss_module = MODELS.build(loss)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of logits (B, K, H, W) against binary maps (B, K, H, W).

        ``target`` may be uint8 or float. Returns a scalar.
        """
        if logits.shape != target.shape:
            raise ValueError(
                f'CorrelationHead: logits {tuple(logits.shape)} and target '
                f'{tuple(target.shape)} must share one (B, K, H, W) shape.')
        pixel_loss = self.loss_module(
            logits, target.float(), reduction_override='none')
        map_loss = pixel_loss.flatten(2).mean(dim=2)  # (B, K)
        if self.exemplar_reduction == 'sum':
            return map_loss.sum(dim=1).mean()
        return map_loss.mean()
