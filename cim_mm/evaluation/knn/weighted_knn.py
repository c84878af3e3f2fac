"""DINO's weighted k-NN classifier on L2-normalised features.

Each query takes the ``k`` memory (training) features of highest cosine
similarity ``s``; each of them votes for its class with weight
``exp(s / T)`` (k = 20, T = 0.07 in DINO, Caron et al., ICCV 2021); the
classes are ranked by their summed votes. The one implementation behind
``tools/analysis_tools/knn_eval.py`` and :class:`KNNMonitorHook`.
"""
from typing import Dict, Sequence

import torch

__all__ = ['weighted_knn_votes', 'topk_accuracy', 'knn_accuracy']


def _topk_indices(sim: torch.Tensor, k: int) -> torch.Tensor:
    """(m, N) similarities -> (m, k) indices of the k largest per row; of
    equal similarities at the k-th place, the lowest indices (rows ordered
    by index, not by similarity)."""
    kth = sim.topk(k, dim=1).values[:, -1:]
    above = sim > kth
    tied = sim == kth
    need = k - above.sum(1, keepdim=True)
    take = above | (tied & (tied.cumsum(1) <= need))
    return take.nonzero()[:, 1].view(-1, k)


def weighted_knn_votes(train_feats: torch.Tensor,
                       train_labels: torch.Tensor,
                       test_feats: torch.Tensor,
                       num_classes: int,
                       k: int = 20,
                       temperature: float = 0.07,
                       chunk_size: int = 256) -> torch.Tensor:
    """Summed votes of the k nearest training features.

    Args:
        train_feats (torch.Tensor): (N, D) L2-normalised.
        train_labels (torch.Tensor): (N,) int class indices.
        test_feats (torch.Tensor): (M, D) L2-normalised, same device.
        num_classes (int): C.
        k (int): Neighbours (clipped to N). Defaults to 20.
        temperature (float): T of the weights ``exp(sim / T)``.
            Defaults to 0.07.
        chunk_size (int): Test rows per similarity matrix.

    Returns:
        torch.Tensor: (M, C) float votes: the sum of ``exp(sim / T)`` per
        class, divided by ``exp(1 / T)`` (a common factor).
    """
    if k < 1 or temperature <= 0:
        raise ValueError(f'k must be >= 1 and temperature > 0, got k={k}, '
                         f'temperature={temperature}.')
    k = min(k, len(train_feats))
    train_labels = train_labels.to(train_feats.device).long()
    votes = torch.zeros(len(test_feats), num_classes,
                        device=test_feats.device)
    for start in range(0, len(test_feats), chunk_size):
        sim = test_feats[start:start + chunk_size] @ train_feats.T
        idx = _topk_indices(sim, k)
        # exp((sim - 1) / T): exp(sim / T) / exp(1 / T), the same ranking
        # without overflow for small T (sim <= 1)
        weights = ((sim.gather(1, idx) - 1) / temperature).exp()
        votes[start:start + len(idx)].scatter_add_(1, train_labels[idx],
                                                   weights)
    return votes


def topk_accuracy(votes: torch.Tensor, labels: torch.Tensor,
                  topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Top-k accuracies in percent: ``{'top1': ..., 'top5': ...}``.

    Classes are ranked by votes, equal votes by class index (a stable
    sort), so results are deterministic; with fewer than k classes top-k
    counts all of them (100%).
    """
    order = torch.sort(votes, dim=1, descending=True, stable=True).indices
    labels = labels.to(votes.device).view(-1, 1)
    return {
        f'top{k}':
        (order[:, :k] == labels).any(1).float().mean().item() * 100
        for k in topk
    }


def knn_accuracy(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """:func:`weighted_knn_votes` then :func:`topk_accuracy`: the k-NN
    accuracy of labelled queries (``test_labels`` (M,), indices of the
    training classes), ``{'top1': ..., 'top5': ...}`` in percent."""
    votes = weighted_knn_votes(train_feats, train_labels, test_feats,
                               num_classes, k, temperature)
    return topk_accuracy(votes, test_labels, topk)
