"""ImageNet-1K class indices of WordNet ids, and class-subset predictions.

The 1000 ImageNet-1K classes are indexed in the sorted order of their
WordNet ids (``n01440764`` is 0, ``n15075141`` is 999), the order of every
ImageNet-1K classifier trained from the class folders. The list is read from
timm's package data (``timm/data/_info/imagenet_synsets.txt``; timm is a
cim_mm dependency), offline, and checked to be 1000 sorted unique ids.
"""
import functools
import pkgutil
from typing import Dict, List, Sequence

import torch

__all__ = [
    'imagenet1k_wnids', 'wnid_to_index', 'class_indices', 'predict_in_subset'
]

NUM_IMAGENET_CLASSES = 1000


@functools.lru_cache(maxsize=None)
def imagenet1k_wnids() -> tuple:
    """The 1000 ImageNet-1K WordNet ids, in class-index order."""
    data = pkgutil.get_data('timm.data', '_info/imagenet_synsets.txt')
    if data is None:
        raise FileNotFoundError(
            "timm's ImageNet-1K class list (timm/data/_info/"
            'imagenet_synsets.txt) is missing; reinstall timm>=0.9.')
    wnids = tuple(line.strip() for line in data.decode().splitlines()
                  if line.strip())
    if (len(wnids) != NUM_IMAGENET_CLASSES or len(set(wnids)) != len(wnids)
            or list(wnids) != sorted(wnids)):
        raise ValueError(
            "timm's imagenet_synsets.txt is not the 1000 sorted unique "
            'ImageNet-1K WordNet ids; reinstall timm>=0.9.')
    return wnids


@functools.lru_cache(maxsize=None)
def wnid_to_index() -> Dict[str, int]:
    """WordNet id -> ImageNet-1K class index."""
    return {wnid: index for index, wnid in enumerate(imagenet1k_wnids())}


def class_indices(wnids: Sequence[str], where: str = '') -> List[int]:
    """The ImageNet-1K indices of ``wnids``, sorted.

    Raises:
        ValueError: a name is not an ImageNet-1K WordNet id (``where`` is
            put in the message, e.g. the folder that holds it).
    """
    table = wnid_to_index()
    unknown = sorted(w for w in wnids if w not in table)
    if unknown:
        where = f' in {where}' if where else ''
        raise ValueError(
            f'{len(unknown)} class folder name(s){where} are not ImageNet-1K '
            f'WordNet ids (e.g. {unknown[:3]}); each '
            'class folder must be named by its WordNet id, like n01440764.')
    return sorted({table[w] for w in wnids})


def predict_in_subset(logits: torch.Tensor,
                      indices: Sequence[int] = None) -> torch.Tensor:
    """Top-1 ImageNet-1K class among ``indices`` only.

    Args:
        logits (Tensor): (N, 1000) ImageNet-1K logits.
        indices (Sequence[int], optional): the allowed class indices (e.g.
            the 200 classes of ImageNet-A/R); None allows all.

    Returns:
        Tensor: (N, ) predicted ImageNet-1K class indices.
    """
    if indices is None:
        return logits.argmax(dim=1)
    index = torch.as_tensor(list(indices), device=logits.device,
                            dtype=torch.long)
    return index[logits.index_select(1, index).argmax(dim=1)]
