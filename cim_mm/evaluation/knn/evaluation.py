"""The whole k-NN evaluation of a checkpoint on two image folders (what
``tools/analysis_tools/knn_eval.py`` runs)."""
import warnings
from typing import Optional

import torch
from mmengine.config import Config

from .backbone import (backbone_input_size, build_backbone, build_normaliser,
                       load_backbone_weights)
from .data import build_folder_loader, label_map
from .features import extract_features
from .weighted_knn import knn_accuracy

__all__ = ['run_knn_eval']


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
    the features of both folders (``<class>/<image>``) and classify the
    validation images.

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
    classes = train.dataset.metainfo['classes']
    # val labels are val-folder indices: map them to the training classes
    to_train = label_map(classes, val.dataset.metainfo['classes'],
                         train_root, val_root)
    train_feats, train_labels = extract_features(backbone, train, normaliser,
                                                 pool, progress)
    val_feats, val_labels = extract_features(backbone, val, normaliser, pool,
                                             progress)
    val_labels = torch.tensor(to_train, device=val_labels.device)[val_labels]
    return dict(
        **knn_accuracy(train_feats, train_labels, val_feats, val_labels,
                       len(classes), k, temperature, (1, 5)),
        k=min(k, len(train_feats)),
        temperature=temperature,
        input_size=size,
        pool=pool,
        feature_dim=train_feats.shape[1],
        num_train=len(train_feats),
        num_val=len(val_feats),
        num_classes=len(classes),
        load=report)
