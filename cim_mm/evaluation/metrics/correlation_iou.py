"""Intersection-over-union of predicted and true correlation maps."""
from typing import List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS


@METRICS.register_module()
class CorrelationIoU(BaseMetric):
    """IoU between thresholded predicted correlation maps and the true maps.

    Expects each prediction (from ``CIM.predict``) to carry ``pred_corr_maps``
    (K x m x m probabilities) and ``corr_maps`` (K x m x m in {0, 1}). The IoU
    is averaged over all exemplars of all images. Two references tell what
    the model has learned:

    - ``whole_context_iou``: the IoU of the trivial prediction "the exemplar
      came from the whole context" (= mean fraction of the context an
      exemplar covers);
    - ``wrong_exemplar_iou``: the IoU of each prediction with the true map of
      *another* exemplar of the same context (exemplar k+1 for k). A model
      that ignores the exemplar (e.g. predicts a central blob, the location
      prior) scores as well here as on ``iou``; the gap ``iou -
      wrong_exemplar_iou`` is what it learned from the exemplar.

    Args:
        threshold (float): Probability above which a pixel counts as
            predicted. Defaults to 0.5.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'corr'``, giving ``corr/iou`` and ``corr/whole_context_iou``.
    """
    default_prefix = 'corr'

    def __init__(self,
                 threshold: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(
                f'CorrelationIoU: threshold must lie in (0, 1), got {threshold}.')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.threshold = threshold

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in ('pred_corr_maps', 'corr_maps'):
                if key not in sample:
                    raise KeyError(
                        f'CorrelationIoU needs `{key}` in every prediction; '
                        'use it with a CIM model in `val_cfg`/`test_cfg` and a '
                        'pipeline ending in PackCIMInputs.')
            pred = sample['pred_corr_maps'].float() > self.threshold
            true = sample['corr_maps'].to(pred.device).bool()
            self.results.append(
                dict(
                    iou=_iou(pred, true).cpu(),
                    wrong_exemplar_iou=_iou(pred, true.roll(1, 0)).cpu(),
                    whole_context_iou=true.float().mean((-2, -1)).cpu()))

    def compute_metrics(self, results: List[dict]) -> dict:
        return {
            key: torch.cat([r[key] for r in results]).mean().item() * 100
            for key in ('iou', 'wrong_exemplar_iou', 'whole_context_iou')
        }


def _iou(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """IoU of (K, m, m) boolean maps, per map; empty vs empty counts 1."""
    inter = (pred & true).sum((-2, -1)).float()
    union = (pred | true).sum((-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1),
                       torch.ones_like(union))
