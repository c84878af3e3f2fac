"""A picture of exemplars next to their true and predicted correlation maps."""
from typing import Sequence

import numpy as np
import torch


def _rgb(chw_bgr: torch.Tensor) -> np.ndarray:
    """(3, H, W) BGR tensor with integer grey levels -> (H, W, 3) uint8
    RGB array."""
    return chw_bgr.flip(0).permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def draw_correlation_grid(inputs: Sequence[torch.Tensor],
                          predictions: Sequence,
                          out_file: str,
                          exemplars_per_image: int = 2,
                          threshold: float = 0.5) -> None:
    """Save a grid: context | exemplar | true map | predicted map, a row each.

    Args:
        inputs: the pair pixels of one batch (not normalised):
            ``[context (B,3,m,m), exemplar_0 (B,3,n,n), ...]`` BGR, uint8
            or integer-valued float (``CIMDataPreprocessor.build_pairs``).
        predictions: the B data samples returned by ``CIM.predict`` /
            ``val_step``, with ``corr_maps`` and ``pred_corr_maps`` (K,m,m).
        out_file: where to write the PNG.
        exemplars_per_image: how many exemplars of each context to show.
        threshold: probability drawn as the predicted region's outline.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if len(inputs) < 2:
        raise ValueError(
            'draw_correlation_grid needs the pair pixels [context, '
            'exemplar_0, ...]; this batch holds only search images: build '
            "the pairs first, with the model's "
            "data_preprocessor.build_pairs(batch) or "
            "collate_fn=dict(type='pair_synthesis_collate').")
    contexts, exemplars = inputs[0], inputs[1:]
    k_show = min(exemplars_per_image, len(exemplars))
    rows = [(b, k) for b in range(len(predictions)) for k in range(k_show)]
    titles = ('context', 'exemplar', 'true map', 'predicted map')
    fig, axes = plt.subplots(
        len(rows), 4, figsize=(8, 2.1 * len(rows)), squeeze=False)
    for r, (b, k) in enumerate(rows):
        true = predictions[b].corr_maps[k].float().cpu().numpy()
        prob = predictions[b].pred_corr_maps[k].float().cpu().numpy()
        context = _rgb(contexts[b])
        inter = np.logical_and(prob > threshold, true > 0).sum()
        union = np.logical_or(prob > threshold, true > 0).sum()
        panels = (context, _rgb(exemplars[k][b]), true, prob)
        for c, (ax, img) in enumerate(zip(axes[r], panels)):
            if c < 2:
                ax.imshow(img)
            else:
                ax.imshow(context, alpha=0.35)
                ax.imshow(img, cmap='magma', vmin=0, vmax=1, alpha=0.75)
                ax.contour(true, levels=[0.5], colors='cyan', linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        axes[r][3].set_xlabel(f'IoU {inter / max(union, 1):.2f}', fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
