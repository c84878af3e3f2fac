"""Frozen features of a backbone for k-NN: normalised images in, pooled,
L2-normalised (N, D) features out, gathered across ranks in dataset order.
"""
import inspect
import math
import threading
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size
from mmengine.model import ImgDataPreprocessor
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

__all__ = [
    'POOLS', 'pool_features', 'forward_backbone', 'normalise_images',
    'extract_features', 'gather_shards'
]

POOLS = ('auto', 'cls', 'avg')


def pool_features(output, pool: str = 'auto',
                  num_extra_tokens: int = 1) -> torch.Tensor:
    """A backbone's output -> (B, C) features.

    The last output of a tuple is used. ``'auto'``: (B, C) as is (a ViT's
    ``out_type`` 'cls_token' or 'avg_featmap'), (B, L, C) tokens (``out_type``
    'raw') the class token when there is one (``num_extra_tokens``) else
    the mean token, (B, C, H, W) maps (ResNet, 'featmap') the spatial mean.
    ``'cls'``: the class token of (B, L, C) tokens. ``'avg'``: the mean
    patch token of (B, L, C) tokens or the spatial mean of maps.
    """
    if isinstance(output, (tuple, list)):
        output = output[-1]
    if pool not in POOLS:
        raise ValueError(f'pool must be one of {POOLS}, got {pool!r}.')
    shape = tuple(output.shape)
    if output.dim() == 2 and pool == 'auto':
        return output
    if output.dim() == 4 and pool != 'cls':
        return output.mean((2, 3))
    if output.dim() == 3:
        if pool == 'avg' or (pool == 'auto' and not num_extra_tokens):
            return output[:, num_extra_tokens:].mean(1)
        if num_extra_tokens:
            return output[:, 0]
    raise ValueError(
        f'Cannot pool a backbone output of shape {shape} with pool={pool!r} '
        '(cls needs (B, L, C) tokens with a class token, avg tokens or maps):'
        " use pool='auto', or set the backbone's out_type, e.g. "
        '--cfg-options model.backbone.out_type=raw.')


def forward_backbone(backbone: torch.nn.Module, inputs: torch.Tensor):
    """``backbone(inputs)``, unmasked: masked-image-modeling backbones
    (mmpretrain's ``MAEViT``, ``BEiTPretrainViT``, ...) mask at random
    unless ``mask=None``, in eval mode too."""
    if 'mask' in inspect.signature(backbone.forward).parameters:
        return backbone(inputs, mask=None)
    return backbone(inputs)


def normalise_images(preprocessor: torch.nn.Module,
                     inputs: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 images as loaded (BGR) -> float inputs on the
    preprocessor's device, normalised by it: the mean/std and channel order
    of an ``ImgDataPreprocessor`` (mmengine's ``forward`` for single images,
    also for subclasses whose own ``forward`` expects more, such as CIM's
    pair builder or mmpretrain's ``SelfSupDataPreprocessor``); any other
    preprocessor's own ``forward(dict(inputs=...), False)``."""
    data = dict(inputs=inputs)
    if isinstance(preprocessor, ImgDataPreprocessor):
        return ImgDataPreprocessor.forward(preprocessor, data, False)['inputs']
    return preprocessor(data, False)['inputs']


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, loader: DataLoader,
                     preprocessor: torch.nn.Module, pool: str = 'auto',
                     progress: bool = True
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(n, D) L2-normalised float features (on the backbone's device) and
    (n,) labels (``gt_label`` of the data samples) of the batches of
    ``loader`` (``default_collate``d, ``inputs`` uint8 BGR), in loader
    order. The backbone runs in eval mode, unmasked; every module's
    train/eval mode is put back afterwards.

    With non-persistent workers, returns once the threads the loader
    started have ended: its queues' feeder threads end after the workers
    and, in CPython 3.11, a process forked while one of them is ending (the
    next loader's worker) can hang in ``os.fork`` for good (seen under DDP
    with the monitor's two loaders back to back)."""
    threads = set(threading.enumerate())
    modes = [(m, m.training) for m in backbone.modules()]
    backbone.eval()
    extra = getattr(backbone, 'num_extra_tokens', 0)
    bar = ProgressBar(len(loader.sampler)) if progress else None
    feats: List[torch.Tensor] = []
    labels: List[int] = []
    try:
        for batch in loader:
            inputs = normalise_images(preprocessor, batch['inputs'])
            out = pool_features(forward_backbone(backbone, inputs), pool,
                                extra)
            feats.append(F.normalize(out.float(), dim=1))
            labels += [int(s.gt_label) for s in batch['data_samples']]
            if bar is not None:
                bar.update(len(inputs))
    finally:
        for module, mode in modes:
            module.training = mode
    if not loader.persistent_workers:
        for thread in set(threading.enumerate()) - threads:
            thread.join(timeout=60)
    if bar is not None:
        print()  # end the progress bar's line
    if not feats:
        raise ValueError('extract_features: the loader gave no images.')
    return torch.cat(feats), torch.tensor(labels, device=feats[0].device)


def gather_shards(local: torch.Tensor, total: int) -> torch.Tensor:
    """Rows of all ranks in dataset order: rank r holds the rows of the
    dataset indices r, r + W, r + 2W, ... (W ranks, see
    :func:`cim_mm.evaluation.knn.data.shard_indices`); every rank gets the
    (total, ...) tensor (``all_gather`` of rows padded to ceil(total / W)).
    One process: ``local`` itself."""
    world = get_world_size()
    if world == 1:
        return local
    per_rank = math.ceil(total / world)
    padded = local.new_zeros((per_rank, *local.shape[1:]))
    padded[:len(local)] = local
    # (per_rank, W, ...): row j of rank r is dataset index j * W + r
    rows = torch.stack(all_gather(padded), 1)
    return rows.reshape(per_rank * world, *local.shape[1:])[:total]
