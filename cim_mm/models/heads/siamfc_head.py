"""SiamFC's score-map loss on CIM's pairs (the paper's Table 4)."""
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .tracker_head import TrackerHead, centred_grid_origin, region_maps


@MODELS.register_module()
class SiamFCHead(TrackerHead):
    """Logistic loss of a SiamFC score map against the exemplar's region.

    The loss of `Fully-Convolutional Siamese Networks for Object Tracking
    <https://arxiv.org/abs/1606.09549>`_ on the (B, K, h, w) scores of
    ``SiameseCorrelation(correlation='plain')``: a cell is positive when
    its window centre lies in the exemplar's (rotated) region, the cells of
    a 'valid' correlation being ``stride`` pixels apart and centred on the
    context; element-wise logistic loss ``log(1 + exp(-y v))``, positives
    and negatives each weighted to half of a map's loss (SiamFC's class
    balance), averaged over the B*K pairs. :meth:`predict` upsamples the
    score probabilities bilinearly between cell centres (clamped beyond
    them) to the context pixels.

    Simplified against SiamFC: the positives are the region at score-map
    resolution, not a disc of radius R around the target's centre (CIM's
    pairs have no centred target; the region is their ground truth); no
    cosine window, scale search or upsampled score map at test time.

    Args:
        stride (int): Pixels between score cells: the backbone's total
            stride (16 for ViT/16, 32 for ResNet-50). Defaults to 16.
        loss (dict): Element-wise loss on logits, called with
            ``reduction_override='none'``. Defaults to the logistic loss
            ``dict(type='CrossEntropyLoss', use_sigmoid=True)``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 stride: int = 16,
                 loss: dict = dict(type='CrossEntropyLoss', use_sigmoid=True),
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.stride = stride
        self.loss_module = MODELS.build(loss)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w) score logits, unchanged (the neck's adjust layer is
        SiamFC's last layer)."""
        return scores

    def targets(self, scores: torch.Tensor, data_samples) -> torch.Tensor:
        """(B, K, h, w) labels in {0, 1}: window centre in the region."""
        corners, context_size = self.exemplar_corners(data_samples)
        size = scores.shape[-1]
        if scores.shape[-2] != size:
            raise ValueError('SiamFCHead: expected square score maps, got '
                             f'{tuple(scores.shape[-2:])}.')
        if self.stride * (size - 1) >= context_size:
            raise ValueError(
                f'SiamFCHead: {size} cells {self.stride} px apart do not fit '
                f'a {context_size} px context; set stride to the backbone '
                'stride.')
        origin = centred_grid_origin(context_size, self.stride, size)
        return region_maps(corners.to(scores.device), size, origin,
                           self.stride)

    def loss(self, scores: torch.Tensor, data_samples) -> dict:
        """Balanced logistic loss of (B, K, h, w) scores: ``loss_cls``."""
        target = self.targets(scores, data_samples)
        pixel_loss = self.loss_module(
            self(scores), target, reduction_override='none')
        num_pos = target.sum((-2, -1), keepdim=True)
        num_neg = target[0, 0].numel() - num_pos
        weight = target / num_pos.clamp(min=1) + (1 - target) / num_neg.clamp(
            min=1)
        # each class half of a map's loss (all of it when the other is empty)
        weight = weight / weight.sum((-2, -1), keepdim=True)
        return dict(loss_cls=(weight * pixel_loss).sum((-2, -1)).mean())

    @torch.no_grad()
    def predict(self, scores: torch.Tensor, data_samples) -> torch.Tensor:
        """(B, K, h, w) scores -> (B, K, m, m) probabilities at the context
        pixel centres."""
        context_size = self.context_size(data_samples)
        batch, num, size = scores.shape[0], scores.shape[1], scores.shape[-1]
        origin = centred_grid_origin(context_size, self.stride, size)
        # pixel centre -> score index (cell centres at integers) -> [-1, 1]
        pixels = torch.arange(
            context_size, device=scores.device, dtype=scores.dtype) + 0.5
        index = (pixels - origin) / self.stride - 0.5
        coord = 2 * index / max(size - 1, 1) - 1
        grid = torch.stack(torch.meshgrid(coord, coord, indexing='xy'), -1)
        logits = F.grid_sample(
            self(scores).reshape(batch * num, 1, size, size),
            grid.expand(batch * num, -1, -1, -1),
            mode='bilinear',
            padding_mode='border',
            align_corners=True)
        return logits.sigmoid().reshape(batch, num, context_size,
                                        context_size)
