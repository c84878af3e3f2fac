"""Backbone features as tokens on a grid: what the correlation necks take.

The CIM decoder and the Table 4 trackers accept the same inputs: ViT tokens
(N, L, C) with or without one cls token, or CNN feature maps (N, C, h, w).
:func:`to_tokens` reads either as tokens on a grid; :func:`tokens_to_maps`
turns grid tokens back into feature maps; :func:`check_exemplar_count`
checks the necks' batch layout (K exemplars per context, sample-major).
"""
import math
from typing import Tuple

import torch

__all__ = ['to_tokens', 'tokens_to_maps', 'check_exemplar_count']


def to_tokens(feats: torch.Tensor,
              owner: str = 'to_tokens'
              ) -> Tuple[torch.Tensor, Tuple[int, int], int]:
    """Backbone features -> tokens, their grid and the number of cls slots.

    Args:
        feats (torch.Tensor): (N, L, C) tokens, L = h*w (a square grid) or
            1 + h*w (one cls token first), or (N, C, h, w) maps.
        owner (str): The name put in front of an error message (the
            module that got the features).

    Returns:
        tuple: ``tokens`` (N, L, C) (maps: flattened row-major, a view of
        the maps with L = h*w), ``grid`` (h, w) and ``num_extra``, the
        number of leading non-grid tokens (0 or 1). A token count that is a
        square and one more than a square is read as a square (no cls).

    Raises:
        ValueError: ``feats`` is neither 3-D nor 4-D, or L is neither a
            square nor one more than a square.
    """
    if feats.dim() == 4:
        return feats.flatten(2).transpose(1, 2), tuple(feats.shape[2:]), 0
    if feats.dim() == 3:
        length = feats.shape[1]
        for num_extra in (0, 1):
            side = math.isqrt(length - num_extra)
            if side * side == length - num_extra:
                return feats, (side, side), num_extra
        raise ValueError(
            f'{owner}: cannot read {length} tokens as a square grid with or '
            'without one cls token.')
    raise ValueError(f'{owner}: features must be (N, L, C) tokens or '
                     f'(N, C, h, w) maps, got shape {tuple(feats.shape)}.')


def tokens_to_maps(tokens: torch.Tensor,
                   grid: Tuple[int, int]) -> torch.Tensor:
    """(N, h*w, C) grid tokens (no cls token) -> (N, C, h, w) maps, the
    inverse of :func:`to_tokens` on maps (a reshape of the transposed
    tokens: not contiguous in general)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)


def check_exemplar_count(num_contexts: int, num_exemplars: int,
                         num_given: int, owner: str) -> None:
    """Raise a ValueError naming ``owner`` unless ``num_given`` exemplars
    are ``num_contexts`` x ``num_exemplars`` (K exemplars per context,
    sample-major: b0e0, b0e1, ..., b1e0)."""
    if num_given != num_contexts * num_exemplars:
        raise ValueError(f'{owner}: expected {num_contexts} x {num_exemplars} '
                         f'exemplars, got {num_given}.')
