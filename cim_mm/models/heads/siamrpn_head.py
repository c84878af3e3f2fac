"""SiamRPN's region-proposal head on CIM's pairs (the paper's Table 4)."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmpretrain.registry import MODELS
from torchvision.ops import box_iou

from .tracker_head import (TrackerHead, box_maps, centred_grid_origin,
                           enclosing_boxes)


def _centre_size(boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(..., 4) xyxy -> centres (..., 2) and sizes (..., 2)."""
    top_left, bottom_right = boxes[..., :2], boxes[..., 2:]
    return (top_left + bottom_right) / 2, bottom_right - top_left


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """SiamRPN's normalised offsets of (..., 4) xyxy ``boxes`` from xyxy
    ``anchors``: ``(dx, dy, log dw, log dh)``."""
    ctr_b, size_b = _centre_size(boxes)
    ctr_a, size_a = _centre_size(anchors)
    return torch.cat([(ctr_b - ctr_a) / size_a,
                      torch.log(size_b / size_a)], -1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`encode_boxes`: (..., 4) offsets -> xyxy boxes."""
    ctr_a, size_a = _centre_size(anchors)
    ctr = ctr_a + deltas[..., :2] * size_a
    half = size_a * torch.exp(deltas[..., 2:]) / 2
    return torch.cat([ctr - half, ctr + half], -1)


@MODELS.register_module()
class SiamRPNHead(TrackerHead):
    """Region-proposal head of `High Performance Visual Tracking with Siamese
    Region Proposal Network <https://openaccess.thecvf.com/content_cvpr_2018/
    html/Li_High_Performance_Visual_CVPR_2018_paper.html>`_ (SiamRPN).

    On the (B, K, D, h, w) depth-wise correlation of
    :class:`SiameseCorrelation`, k = len(scales) x len(ratios) anchors per
    cell (centred on the cells of the 'valid' correlation, ``stride`` px
    apart, area ``(stride * scale)**2``, h / w = ratio), a classification
    branch (one logit per anchor) and a regression branch (4 offsets per
    anchor). The target is the axis-aligned box enclosing the exemplar's
    region (from ``exemplar_corners``). As SiamRPN: an anchor is positive
    at IoU > 0.6 with it, negative at IoU < 0.3, and per pair at most 16
    positives and 64 anchors in all are sampled at random; binary
    cross-entropy on the sampled anchors (SiamRPN's 2-way softmax, the same
    loss) plus ``reg_weight`` x smooth-L1 on the positives' normalised
    ``(dx, dy, log dw, log dh)``. :meth:`predict` fills the box regressed
    by the highest-scoring anchor.

    Simplified against SiamRPN: three anchor scales (64, 96, 128 px) of its
    five ratios instead of one scale: SiamRPN's crops keep the target at
    one size, CIM's enclosing boxes measure 64-152 px (square root of the
    area, 5th-95th percentile of the default pairs), and the best single
    scale leaves 34% of the pairs without a positive anchor (three: 1%);
    each branch is a 1x1 conv + BN + ReLU and a 1x1 conv on the shared
    depth-wise correlation (SiamRPN++'s head) instead of up-channel
    kernels; smooth-L1 with sigma 3 (beta 1/9, Faster R-CNN's RPN) and
    reg_weight 1.2 (SiamRPN++'s configs), which SiamRPN does not give; no
    cosine window, scale penalty or template update at test time.

    Args:
        in_channels (int): Channels D of the correlation. Defaults to 256.
        stride (int): Pixels between correlation cells (the backbone's
            stride). Defaults to 16.
        ratios (Sequence[float]): Anchor aspects h / w.
            Defaults to (0.33, 0.5, 1, 2, 3).
        scales (Sequence[float]): Anchor sizes in strides. Defaults to
            (4, 6, 8).
        pos_iou_thr (float): IoU above which an anchor is positive.
            Defaults to 0.6.
        neg_iou_thr (float): IoU below which an anchor is negative.
            Defaults to 0.3.
        num_samples (int): Anchors sampled per pair. Defaults to 64.
        max_positives (int): Most positives among them. Defaults to 16.
        loss_cls (dict): Element-wise loss on the anchor logits. Defaults
            to ``dict(type='CrossEntropyLoss', use_sigmoid=True)``.
        smooth_l1_beta (float): Smooth-L1 transition point. Defaults to 1/9.
        reg_weight (float): Weight of the regression loss. Defaults to 1.2.
        norm_cfg (dict): Norm of the branch layers. Defaults to BN.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 256,
                 stride: int = 16,
                 ratios: Sequence[float] = (0.33, 0.5, 1, 2, 3),
                 scales: Sequence[float] = (4, 6, 8),
                 pos_iou_thr: float = 0.6,
                 neg_iou_thr: float = 0.3,
                 num_samples: int = 64,
                 max_positives: int = 16,
                 loss_cls: dict = dict(
                     type='CrossEntropyLoss', use_sigmoid=True),
                 smooth_l1_beta: float = 1 / 9,
                 reg_weight: float = 1.2,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 <= neg_iou_thr <= pos_iou_thr <= 1:
            raise ValueError('SiamRPNHead: need 0 <= neg_iou_thr <= '
                             f'pos_iou_thr <= 1, got {neg_iou_thr}, '
                             f'{pos_iou_thr}.')
        self.stride = stride
        self.ratios, self.scales = tuple(ratios), tuple(scales)
        self.num_anchors = len(self.ratios) * len(self.scales)
        self.pos_iou_thr, self.neg_iou_thr = pos_iou_thr, neg_iou_thr
        self.num_samples, self.max_positives = num_samples, max_positives
        self.smooth_l1_beta, self.reg_weight = smooth_l1_beta, reg_weight
        self.loss_cls = MODELS.build(loss_cls)

        def branch(out_channels):
            return nn.Sequential(
                ConvModule(in_channels, in_channels, 1, norm_cfg=norm_cfg),
                nn.Conv2d(in_channels, out_channels, 1))

        self.cls_branch = branch(self.num_anchors)
        self.reg_branch = branch(4 * self.num_anchors)

    def anchors(self, size: int, context_size: int,
                device=None) -> torch.Tensor:
        """(A, 4) xyxy anchors, A = k * size * size, ordered (anchor shape,
        row, column) as the branches' outputs."""
        origin = centred_grid_origin(context_size, self.stride, size)
        centres = origin + self.stride * (
            torch.arange(size, dtype=torch.float32, device=device) + 0.5)
        cy, cx = torch.meshgrid(centres, centres, indexing='ij')
        shapes = []
        for scale in self.scales:
            for ratio in self.ratios:
                width = self.stride * scale / ratio**0.5
                shapes.append((width, width * ratio))  # area (stride*scale)^2
        half = torch.tensor(shapes, device=device)[:, None, None] / 2
        ctr = torch.stack([cx, cy], -1)  # (size, size, 2)
        return torch.cat([ctr - half, ctr + half], -1).reshape(-1, 4)

    def forward(self, response: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(B, K, D, h, w) correlation -> anchor logits (B, K, A) and
        offsets (B, K, A, 4), A = k * h * w."""
        batch, num = response.shape[:2]
        x = response.reshape(batch * num, *response.shape[2:])
        logits = self.cls_branch(x).reshape(batch, num, -1)
        deltas = self.reg_branch(x)  # (N, k*4, h, w) -> (B, K, k*h*w, 4)
        deltas = deltas.reshape(batch, num, self.num_anchors, 4,
                                -1).transpose(3, 4).reshape(batch, num, -1, 4)
        return logits, deltas

    def targets(self, anchors: torch.Tensor, boxes: torch.Tensor):
        """Anchor labels (N, A): 1 sampled positive, 0 sampled negative, -1
        not sampled; offsets (N, A, 4) of the (N, 4) boxes from them."""
        iou = box_iou(boxes, anchors)  # (N, A)
        positive, negative = iou > self.pos_iou_thr, iou < self.neg_iou_thr
        keys = torch.rand_like(iou)

        def random_rank(mask):  # rank of each masked anchor in random order
            order = torch.where(mask, keys, 2.).argsort(1)
            return order.argsort(1)

        positive &= random_rank(positive) < self.max_positives
        num_neg = self.num_samples - positive.sum(1, keepdim=True)
        negative &= random_rank(negative) < num_neg
        labels = torch.full_like(iou, -1).masked_fill(negative, 0)
        labels = labels.masked_fill(positive, 1)
        return labels, encode_boxes(boxes[:, None], anchors)

    def loss(self, response: torch.Tensor, data_samples) -> dict:
        """``loss_cls`` over the sampled anchors, ``loss_bbox`` over the
        positives."""
        logits, deltas = self(response)
        corners, context_size = self.exemplar_corners(data_samples)
        boxes = enclosing_boxes(corners.to(logits.device)).flatten(0, 1)
        anchors = self.anchors(response.shape[-1], context_size,
                               logits.device)
        labels, target_deltas = self.targets(anchors, boxes)
        labels = labels.reshape(logits.shape)
        sampled, positive = labels >= 0, labels == 1
        cls_loss = self.loss_cls(
            logits, labels.clamp(min=0), reduction_override='none')
        loss_cls = (cls_loss * sampled).sum() / sampled.sum().clamp(min=1)
        # Over every anchor, kept on the positives: no boolean indexing, so
        # no host-device sync and static shapes.
        reg_loss = torch.where(
            positive[..., None],
            F.smooth_l1_loss(
                deltas,
                target_deltas.reshape(deltas.shape),
                beta=self.smooth_l1_beta,
                reduction='none'), 0.).sum()
        loss_bbox = reg_loss / positive.sum().clamp(min=1)
        return dict(loss_cls=loss_cls, loss_bbox=self.reg_weight * loss_bbox)

    @torch.no_grad()
    def predict(self, response: torch.Tensor, data_samples) -> torch.Tensor:
        """(B, K, m, m) maps: 1 inside the best anchor's regressed box."""
        logits, deltas = self(response)
        context_size = self.context_size(data_samples)
        anchors = self.anchors(response.shape[-1], context_size,
                               logits.device)
        best = logits.argmax(-1)  # (B, K)
        index = best[..., None, None].expand(-1, -1, 1, 4)
        boxes = decode_boxes(deltas.gather(2, index)[:, :, 0], anchors[best])
        return box_maps(boxes.clamp(0, context_size), context_size)
