"""Exemplar | true map | predicted map rows as one RGB image (no plotting
library: cheap enough to draw during training)."""
from typing import Sequence

import cv2
import numpy as np
import torch


def _bgr_image(chw: torch.Tensor) -> np.ndarray:
    """(3, H, W) BGR values in [0, 255] -> (H, W, 3) uint8 BGR."""
    return chw.detach().float().clamp(0, 255).round().to(
        torch.uint8).permute(1, 2, 0).cpu().numpy()


def _overlay(context: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The context under a heat map of ``prob`` (m x m in [0, 1])."""
    heat = cv2.applyColorMap((prob * 255).round().astype(np.uint8),
                             cv2.COLORMAP_MAGMA)
    return cv2.addWeighted(context, 0.4, heat, 0.6, 0)


def correlation_rows(contexts: torch.Tensor,
                     exemplars: Sequence[torch.Tensor],
                     true_maps: torch.Tensor,
                     pred_maps: torch.Tensor,
                     exemplars_per_pair: int = 2,
                     gap: int = 2) -> np.ndarray:
    """One row per shown exemplar: the exemplar (resized to the context's
    size) | its true map over the context | the predicted map over it.

    Args:
        contexts: (B, 3, m, m) BGR pixel values (not normalised).
        exemplars: K tensors (B, 3, n, n), BGR pixel values.
        true_maps: (B, K, m, m) in {0, 1}.
        pred_maps: (B, K, m, m) probabilities.
        exemplars_per_pair: exemplars shown per context.
        gap: white pixels between panels and rows.

    Returns:
        np.ndarray: (rows * (m + gap) - gap, 3 * m + 2 * gap, 3) uint8 RGB.
    """
    size = contexts.shape[-1]
    rows = []
    for b in range(contexts.shape[0]):
        context = _bgr_image(contexts[b])
        for k in range(min(exemplars_per_pair, len(exemplars))):
            exemplar = cv2.resize(
                _bgr_image(exemplars[k][b]), (size, size),
                interpolation=cv2.INTER_NEAREST)
            true = true_maps[b, k].float().cpu().numpy()
            pred = pred_maps[b, k].float().cpu().numpy()
            panels = [exemplar, _overlay(context, true),
                      _overlay(context, pred)]
            white = np.full((size, gap, 3), 255, np.uint8)
            rows.append(np.concatenate(
                [panels[0], white, panels[1], white, panels[2]], axis=1))
    spacer = np.full((gap, rows[0].shape[1], 3), 255, np.uint8)
    stacked = [part for row in rows for part in (row, spacer)][:-1]
    return np.ascontiguousarray(np.concatenate(stacked, axis=0)[..., ::-1])
