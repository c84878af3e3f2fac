"""Weighted k-NN classification on frozen backbone features (DINO's).

Features are the pooled output of an mmpretrain backbone, L2-normalised;
each validation image takes the ``k`` training images of highest cosine
similarity ``s`` and each of them votes for its class with weight
``exp(s / T)`` (k = 20, T = 0.07 in DINO, Caron et al., ICCV 2021); the
classes are ranked by their summed votes.

The backbone is the ``backbone`` of the config's model (for CIM the online
encoder), built with the algorithm's initialisation and optionally loaded
from a checkpoint: a runner checkpoint (``backbone.*`` keys, CIM, MAE or a
classifier) or a converted backbone (no prefix).
"""
import copy
import inspect
import logging
import os.path as osp
import warnings
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MMLogger
from mmengine.model import ImgDataPreprocessor
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from cim_mm.checkpoint import (describe_prefixes, read_checkpoint,
                               source_state_dict)

__all__ = [
    'weighted_knn_votes', 'topk_accuracy', 'pool_features',
    'forward_backbone', 'build_backbone', 'load_backbone_weights',
    'backbone_input_size', 'build_normaliser', 'build_folder_loader',
    'extract_features', 'run_knn_eval'
]

#: Resize the short side to ``size / CROP_FRACTION``, then centre-crop.
CROP_FRACTION = 0.875
POOLS = ('auto', 'cls', 'avg')


# ---------------------------------------------------------------------------
# k-NN arithmetic
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# Backbone, weights, features
# ---------------------------------------------------------------------------
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


def _model_cfg(cfg: Config) -> Config:
    model = copy.deepcopy(cfg.model)
    model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    # weights come from the checkpoint given, not from a fine-tuning init
    init_cfg = model.get('backbone', {}).get('init_cfg')
    if isinstance(init_cfg, Mapping) and init_cfg.get('type') == 'Pretrained':
        model.backbone.pop('init_cfg')
    return model


def build_backbone(cfg: Config) -> torch.nn.Module:
    """The config's ``model.backbone``, initialised as the algorithm
    initialises it (``init_weights`` of the whole model: a random-init
    baseline starts where pre-training starts)."""
    from mmpretrain.registry import MODELS
    if 'backbone' not in cfg.model:
        raise ValueError(f"The config's model ({cfg.model.get('type')}) has "
                         'no backbone to evaluate.')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(_model_cfg(cfg))
    # init_weights logs every parameter's initialisation without a log file
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.backbone


def load_backbone_weights(backbone: torch.nn.Module, path: str,
                          prefix: str = 'backbone.') -> dict:
    """Load the backbone part of a checkpoint (read weights-only by
    :func:`cim_mm.checkpoint.read_checkpoint`), non-strictly.

    Keys under ``prefix`` (runner checkpoints of CIM, MAE, classifiers) are
    used with the prefix removed; a checkpoint without any is taken as a
    converted backbone. Returns ``dict(loaded=n, missing=[...],
    unexpected=[...])``; raises ValueError when no key of the backbone
    loads.
    """
    state = source_state_dict(read_checkpoint(path, map_location='cpu'),
                              path)
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in state.items()}
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
    own = backbone.state_dict()
    loaded = [k for k in state if k in own]
    if not loaded:
        raise ValueError(
            f"checkpoint {path}: none of its keys is a key of the config's "
            f'{type(backbone).__name__} (checkpoint: {describe_prefixes(state)}; '
            f'backbone: {describe_prefixes(own)}). Pass a checkpoint of this '
            f"backbone ('{prefix}*' keys, or a converted backbone) and the "
            'config it was trained with.')
    try:
        result = backbone.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise ValueError(f'checkpoint {path} does not fit the config\'s '
                         f'{type(backbone).__name__}: {err}') from err
    return dict(loaded=len(loaded), missing=list(result.missing_keys),
                unexpected=list(result.unexpected_keys))


def backbone_input_size(cfg: Config, backbone: torch.nn.Module) -> int:
    """The side of the centre crop: the backbone's ``img_size`` (ViTs),
    else the config's test/train pipeline crop, else 224."""
    size = getattr(backbone, 'img_size', None)
    if size is not None:
        return int(size[0] if isinstance(size, (tuple, list)) else size)
    for loader, key in (('test_dataloader', 'crop_size'),
                        ('val_dataloader', 'crop_size'),
                        ('train_dataloader', 'scale')):
        dataset = (cfg.get(loader) or {}).get('dataset', {})
        for step in dataset.get('pipeline', []) if isinstance(
                dataset, Mapping) else []:
            value = step.get(key) if step.get('type') in (
                'CenterCrop', 'RandomResizedCrop') else None
            if value is not None:
                return int(value[0] if isinstance(value, (tuple,
                                                          list)) else value)
    return 224


def build_normaliser(cfg: Config) -> ImgDataPreprocessor:
    """The mean/std and channel order of the config's data preprocessor
    (``model.data_preprocessor`` or the top-level ``data_preprocessor``),
    for single images."""
    pre = _model_cfg(cfg).get('data_preprocessor') or {}
    return ImgDataPreprocessor(mean=pre.get('mean'), std=pre.get('std'),
                               bgr_to_rgb=bool(pre.get('to_rgb', False)))


def build_folder_loader(root: str, input_size: int, batch_size: int = 64,
                        num_workers: int = 2) -> DataLoader:
    """``<root>/<class>/<image>`` -> batches of (B, 3, S, S) uint8 BGR
    centre crops: short side resized (bicubic) to ``S / 0.875``, S x S
    crop, S = ``input_size``. The dataset's ``folder_to_idx`` maps class
    names to labels."""
    from mmpretrain.datasets import CustomDataset
    from mmpretrain.registry import TRANSFORMS
    pipeline = [
        TRANSFORMS.build(t) for t in (
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=round(input_size / CROP_FRACTION),
                 edge='short', backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=input_size),
            dict(type='PackInputs'))
    ]
    if not osp.isdir(root):
        raise FileNotFoundError(f'Image folder not found: {root}')
    try:
        dataset = CustomDataset(data_root=root, with_label=True,
                                pipeline=pipeline)
    except RuntimeError as err:  # no image files
        raise ValueError(f'{root}: {err} (layout: <class>/<image>).') from err
    return DataLoader(dataset, batch_size=batch_size,
                      num_workers=num_workers, shuffle=False,
                      collate_fn=default_collate)


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, loader: DataLoader,
                     normaliser: ImgDataPreprocessor, pool: str = 'auto',
                     progress: bool = True
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, D) L2-normalised features (on the backbone's device) and (N,)
    labels of a folder loader, in dataset order."""
    backbone.eval()
    extra = getattr(backbone, 'num_extra_tokens', 0)
    bar = ProgressBar(len(loader.dataset)) if progress else None
    feats: List[torch.Tensor] = []
    labels: List[int] = []
    for batch in loader:
        inputs = normaliser(dict(inputs=batch['inputs']), False)['inputs']
        out = pool_features(forward_backbone(backbone, inputs), pool, extra)
        feats.append(F.normalize(out.float(), dim=1))
        labels += [int(s.gt_label) for s in batch['data_samples']]
        if bar is not None:
            bar.update(len(inputs))
    if bar is not None:
        print()  # end the progress bar's line
    return torch.cat(feats), torch.tensor(labels, device=feats[0].device)


def run_knn_eval(cfg: Config,
                 checkpoint: Optional[str],
                 train_root: str,
                 val_root: str,
                 k: int = 20,
                 temperature: float = 0.07,
                 batch_size: int = 64,
                 num_workers: int = 2,
                 device: str = 'cpu',
                 input_size: Optional[int] = None,
                 pool: str = 'auto',
                 prefix: str = 'backbone.',
                 progress: bool = True) -> dict:
    """Build the backbone, load ``checkpoint`` (None: random init), extract
    the features of both folders and classify the validation images.

    Returns:
        dict: ``top1``, ``top5`` (percent), the setting (``k``,
        ``temperature``, ``input_size``, ``pool``, ``feature_dim``), the
        counts (``num_train``, ``num_val``, ``num_classes``) and the
        checkpoint's loading report (``load``: loaded / missing /
        unexpected keys; None without checkpoint).
    """
    backbone = build_backbone(cfg)
    report = None
    if checkpoint:
        report = load_backbone_weights(backbone, checkpoint, prefix)
        if report['missing'] or report['unexpected']:
            warnings.warn(
                f"{checkpoint}: {report['loaded']} backbone keys loaded; "
                f"missing {report['missing']}, unexpected "
                f"{report['unexpected']}.")
    backbone.to(device)
    normaliser = build_normaliser(cfg).to(device)
    size = input_size or backbone_input_size(cfg, backbone)
    train = build_folder_loader(train_root, size, batch_size, num_workers)
    val = build_folder_loader(val_root, size, batch_size, num_workers)
    classes = train.dataset.folder_to_idx
    unknown = sorted(set(val.dataset.folder_to_idx) - set(classes))
    if unknown:
        raise ValueError(f'{val_root} has classes that {train_root} has '
                         f'not: {unknown}.')
    train_feats, train_labels = extract_features(backbone, train, normaliser,
                                                 pool, progress)
    val_feats, val_labels = extract_features(backbone, val, normaliser, pool,
                                             progress)
    # val labels are val-folder indices: map them to the training classes
    to_train = torch.tensor([
        classes[name] for name in sorted(val.dataset.folder_to_idx,
                                         key=val.dataset.folder_to_idx.get)
    ], device=val_labels.device)
    val_labels = to_train[val_labels]
    votes = weighted_knn_votes(train_feats, train_labels, val_feats,
                               len(classes), k, temperature)
    return dict(
        **topk_accuracy(votes, val_labels, (1, 5)),
        k=min(k, len(train_feats)),
        temperature=temperature,
        input_size=size,
        pool=pool,
        feature_dim=train_feats.shape[1],
        num_train=len(train_feats),
        num_val=len(val_feats),
        num_classes=len(classes),
        load=report)
