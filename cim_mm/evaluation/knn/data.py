"""Labelled images for k-NN: the evaluation pipeline, and data loaders
that read every image once, in dataset order, sharded across ranks, without
drawing from the global random number generators."""
import copy
import os.path as osp
from typing import Dict, List, Sequence

import torch
from mmengine.dist import get_dist_info
from mmengine.registry import DATASETS, DefaultScope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

__all__ = [
    'CROP_FRACTION', 'knn_pipeline', 'folder_loader_cfg', 'shard_indices',
    'build_knn_loader', 'build_folder_loader', 'dataset_classes',
    'label_map'
]

#: Resize the short side to ``size / CROP_FRACTION``, then centre-crop.
CROP_FRACTION = 0.875


def knn_pipeline(input_size: int) -> List[dict]:
    """The evaluation pipeline: load, short side resized (bicubic) to
    ``input_size / 0.875``, ``input_size`` square centre crop, packed
    (uint8 BGR, ``gt_label``)."""
    return [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=round(input_size / CROP_FRACTION),
             edge='short', backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=input_size),
        dict(type='PackInputs'),
    ]


def folder_loader_cfg(root: str, input_size: int, batch_size: int = 64,
                      num_workers: int = 2) -> dict:
    """A data loader config of ``<root>/<class>/<image>`` (mmpretrain's
    ``CustomDataset``, classes = folder names) with :func:`knn_pipeline`."""
    return dict(
        batch_size=batch_size,
        num_workers=num_workers,
        dataset=dict(type='CustomDataset', data_root=root, with_label=True,
                     pipeline=knn_pipeline(input_size)))


def shard_indices(total: int, rank: int, world_size: int) -> range:
    """The dataset indices of one rank: ``rank, rank + W, ...`` (all of
    them in one process); no padding, no shuffling."""
    return range(rank, total, world_size)


def build_knn_loader(cfg: Dict, seed: int = 0,
                     name: str = 'k-NN data') -> DataLoader:
    """A data loader config (``dataset``, ``batch_size``, ``num_workers``,
    ... as a Runner's, without ``sampler``) -> a DataLoader over this rank's
    :func:`shard_indices`, batches ``default_collate``d.

    Nothing is drawn from the global RNGs (python ``random``, numpy,
    torch): the order is fixed, the DataLoader's worker base seed comes from
    its own ``torch.Generator`` seeded with ``seed``, and workers are
    seeded with ``seed`` (mmengine's ``worker_init_fn``). A sampler in
    ``cfg`` is refused (the k-NN reads every image once, in order).
    """
    cfg = copy.deepcopy(dict(cfg))
    for key in ('sampler', 'batch_sampler', 'shuffle'):
        if key in cfg:
            raise ValueError(
                f'{name}: remove {key!r} from its data loader config: k-NN '
                'reads every image once, in dataset order, split across '
                'ranks by itself.')
    if 'dataset' not in cfg:
        raise ValueError(f"{name}: its data loader config needs a 'dataset' "
                         "(e.g. dict(type='CustomDataset', data_root=..., "
                         'pipeline=...)).')
    scope = DefaultScope.get_current_instance()
    try:
        with DefaultScope.overwrite_default_scope(
                scope.scope_name if scope else 'mmpretrain'):
            dataset = cfg['dataset']
            if isinstance(dataset, dict):
                dataset = DATASETS.build(dataset)
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
    except RuntimeError as err:  # e.g. CustomDataset finding no image
        raise ValueError(f'{name}: {err}') from err
    rank, world_size = get_dist_info()
    if len(dataset) < world_size:
        raise ValueError(f'{name}: {len(dataset)} images for {world_size} '
                         'ranks: give it at least one image per rank.')
    cfg.update(dataset=dataset,
               sampler=shard_indices(len(dataset), rank, world_size),
               generator=torch.Generator().manual_seed(seed))
    cfg.setdefault('collate_fn', dict(type='default_collate'))
    return Runner.build_dataloader(cfg, seed=seed)


def build_folder_loader(root: str, input_size: int, batch_size: int = 64,
                        num_workers: int = 2) -> DataLoader:
    """:func:`build_knn_loader` of :func:`folder_loader_cfg`: batches of
    (B, 3, S, S) uint8 BGR centre crops of ``<root>/<class>/<image>``."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'Image folder not found: {root}')
    try:
        return build_knn_loader(
            folder_loader_cfg(root, input_size, batch_size, num_workers),
            name=root)
    except ValueError as err:
        raise ValueError(f'{err} (layout: <class>/<image>).') from err


def dataset_classes(dataset, name: str = 'k-NN data') -> Sequence[str]:
    """The class names of a labelled dataset (``metainfo['classes']``)."""
    classes = getattr(dataset, 'metainfo', {}).get('classes')
    if not classes:
        raise ValueError(
            f'{name}: its dataset has no classes (metainfo["classes"]): '
            'k-NN needs labelled images, e.g. CustomDataset with '
            '<class>/<image> folders and with_label=True.')
    return tuple(classes)


def label_map(memory_classes: Sequence[str], query_classes: Sequence[str],
              memory_name: str = 'the memory set',
              query_name: str = 'the query set') -> List[int]:
    """``result[i]``: the memory class index of query class ``i``; a
    ValueError names the query classes that the memory set has not."""
    index = {name: i for i, name in enumerate(memory_classes)}
    unknown = sorted(set(query_classes) - set(index))
    if unknown:
        raise ValueError(f'{query_name} has classes that {memory_name} has '
                         f'not: {unknown}.')
    return [index[name] for name in query_classes]
