"""The backbone evaluated by k-NN, outside a training run: the config's
``model.backbone`` (for CIM the online encoder) built with the algorithm's
initialisation, optionally loaded from a checkpoint (a runner checkpoint
with ``backbone.*`` keys, CIM, MAE or a classifier, or a converted backbone
without prefix); its input size and the config's normalisation."""
import copy
import logging
from collections.abc import Mapping

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import ImgDataPreprocessor
from mmengine.registry import DefaultScope

from cim_mm.checkpoint import (describe_prefixes, read_checkpoint,
                               source_state_dict)

__all__ = [
    'build_backbone', 'load_backbone_weights', 'backbone_input_size',
    'build_normaliser'
]


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
