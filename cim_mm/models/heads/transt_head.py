"""TransT's classification and box-regression heads on CIM's pairs (the
paper's Table 4, "TransTrack")."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torchvision.ops import box_convert

from .tracker_head import TrackerHead, box_maps, enclosing_boxes


def _mlp(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    """TransT's 3-layer perceptron with ReLU."""
    return nn.Sequential(
        nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, out_channels))


def giou_loss(pred: torch.Tensor, target: torch.Tensor,
              eps: float = 1e-7) -> torch.Tensor:
    """``1 - GIoU`` of (..., 4) ``xyxy`` boxes, elementwise: torchvision's
    ``generalized_box_iou_loss(reduction='none')`` (same formula and eps)
    without its boolean mask, so no host-device sync and static shapes."""
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = target.unbind(-1)
    inter = ((torch.minimum(x2, x2g) - torch.maximum(x1, x1g)).clamp(min=0) *
             (torch.minimum(y2, y2g) - torch.maximum(y1, y1g)).clamp(min=0))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    hull = ((torch.maximum(x2, x2g) - torch.minimum(x1, x1g)) *
            (torch.maximum(y2, y2g) - torch.minimum(y1, y1g)))
    return 1 - (iou - (hull - union) / (hull + eps))


@MODELS.register_module()
class TransTHead(TrackerHead):
    """Prediction heads and losses of `Transformer Tracking
    <https://arxiv.org/abs/2103.15436>`_ (TransT).

    On the (B, K, D, h, w) fused context tokens of
    :class:`TransTFeatureFusion`, per token a classification logit
    (3-layer MLP: is the token inside the exemplar's box) and a box
    (3-layer MLP + sigmoid: normalised ``(cx, cy, w, h)`` of the box in the
    context). The box is the axis-aligned box enclosing the exemplar's
    region (from ``exemplar_corners``). As TransT: the positives are the
    tokens whose centre lies in it; the classification loss is binary
    cross-entropy over all tokens, negatives down-weighted by 16
    (``neg_weight``), a weighted mean, times 8.334 (TransT's training
    setting); the regression loss, on the positives only, is 5 x L1 + 2 x
    GIoU, each summed over the positives and divided by their number.
    :meth:`predict` fills the box of the highest-scoring token.

    Simplified against TransT: one logit with BCE instead of a 2-way
    softmax (the same loss); no Hanning window or template update at test
    time.

    Args:
        embed_dim (int): Width D of the fused tokens (MLP hidden width).
            Defaults to 256.
        loss_cls (dict): Element-wise loss on the token logits. Defaults to
            ``dict(type='CrossEntropyLoss', use_sigmoid=True)``;
            ``dict(type='FocalLoss')`` also works.
        neg_weight (float): Weight of a negative token. Defaults to 1/16.
        cls_weight (float): Weight of the classification loss.
            Defaults to 8.334.
        l1_weight (float): Weight of the L1 box loss. Defaults to 5.
        giou_weight (float): Weight of the GIoU box loss. Defaults to 2.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 embed_dim: int = 256,
                 loss_cls: dict = dict(
                     type='CrossEntropyLoss', use_sigmoid=True),
                 neg_weight: float = 1 / 16,
                 cls_weight: float = 8.334,
                 l1_weight: float = 5.,
                 giou_weight: float = 2.,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.cls_mlp = _mlp(embed_dim, embed_dim, 1)
        self.box_mlp = _mlp(embed_dim, embed_dim, 4)
        self.loss_cls = MODELS.build(loss_cls)
        self.neg_weight = neg_weight
        self.cls_weight = cls_weight
        self.l1_weight = l1_weight
        self.giou_weight = giou_weight

    def forward(self,
                fused: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, K, D, h, w) -> logits (B, K, h, w) and boxes (B, K, h, w, 4),
        normalised ``(cx, cy, w, h)``."""
        tokens = fused.movedim(2, -1)  # (B, K, h, w, D)
        return self.cls_mlp(tokens)[..., 0], self.box_mlp(tokens).sigmoid()

    def targets(self, size: int, data_samples,
                device) -> Tuple[torch.Tensor, torch.Tensor]:
        """Token labels (B, K, size, size) in {0, 1} and the normalised
        ``(cx, cy, w, h)`` boxes (B, K, 4)."""
        corners, context_size = self.exemplar_corners(data_samples)
        boxes = enclosing_boxes(corners.to(device))
        labels = box_maps(boxes, size, stride=context_size / size)
        return labels, box_convert(boxes / context_size, 'xyxy', 'cxcywh')

    def loss(self, fused: torch.Tensor, data_samples) -> dict:
        """``loss_cls`` over all tokens, ``loss_bbox`` (L1) and
        ``loss_giou`` over the positive tokens."""
        logits, boxes = self(fused)
        labels, target = self.targets(logits.shape[-1], data_samples,
                                      logits.device)
        weight = labels + (1 - labels) * self.neg_weight
        cls_loss = self.loss_cls(logits, labels, reduction_override='none')
        loss_cls = (weight * cls_loss).sum() / weight.sum()

        # Over every token, kept on the positives (no boolean indexing).
        positive = labels.bool()[..., None]  # (B, K, h, w, 1)
        true = target[:, :, None, None].expand_as(boxes)
        num_pos = positive.sum().clamp(min=1)
        loss_l1 = torch.where(positive, F.l1_loss(
            boxes, true, reduction='none'), 0.).sum() / num_pos
        loss_giou = torch.where(
            positive[..., 0],
            giou_loss(box_convert(boxes, 'cxcywh', 'xyxy'),
                      box_convert(true, 'cxcywh', 'xyxy')), 0.).sum() / num_pos
        return dict(
            loss_cls=self.cls_weight * loss_cls,
            loss_bbox=self.l1_weight * loss_l1,
            loss_giou=self.giou_weight * loss_giou)

    @torch.no_grad()
    def predict(self, fused: torch.Tensor, data_samples) -> torch.Tensor:
        """(B, K, m, m) maps: 1 inside the best token's box."""
        logits, boxes = self(fused)
        context_size = self.context_size(data_samples)
        best = logits.flatten(2).argmax(-1)  # (B, K)
        index = best[..., None, None].expand(-1, -1, 1, 4)
        box = boxes.flatten(2, 3).gather(2, index)[:, :, 0]  # (B, K, 4)
        box = box_convert(box, 'cxcywh', 'xyxy') * context_size
        return box_maps(box, context_size)
