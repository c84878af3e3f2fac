"""Weighted k-NN classification on frozen backbone features (DINO's), in
four parts, each used by ``tools/analysis_tools/knn_eval.py`` (a
checkpoint on two folders, :mod:`.evaluation`) and by
:class:`cim_mm.engine.hooks.KNNMonitorHook` (the online encoder during
pre-training):

- :mod:`.weighted_knn`: the classifier (votes ``exp(cos / T)`` of the k
  nearest memory features) and its top-k accuracy;
- :mod:`.features`: pooled, L2-normalised features of an unmasked backbone
  in eval mode, gathered across ranks;
- :mod:`.data`: the evaluation pipeline and loaders that read each image
  once, in order, without touching the global RNGs;
- :mod:`.backbone`: a config's backbone and a checkpoint's weights (the
  tool only).
"""
from .backbone import (backbone_input_size, build_backbone, build_normaliser,
                       load_backbone_weights)
from .data import (CROP_FRACTION, build_folder_loader, build_knn_loader,
                   dataset_classes, folder_loader_cfg, knn_pipeline,
                   label_map, shard_indices)
from .evaluation import run_knn_eval
from .features import (POOLS, extract_features, forward_backbone,
                       gather_shards, normalise_images, pool_features)
from .weighted_knn import knn_accuracy, topk_accuracy, weighted_knn_votes

__all__ = [
    'weighted_knn_votes', 'topk_accuracy', 'knn_accuracy', 'POOLS',
    'pool_features', 'forward_backbone', 'normalise_images',
    'extract_features', 'gather_shards', 'CROP_FRACTION', 'knn_pipeline',
    'folder_loader_cfg', 'shard_indices', 'build_knn_loader',
    'build_folder_loader', 'dataset_classes', 'label_map', 'build_backbone',
    'load_backbone_weights', 'backbone_input_size', 'build_normaliser',
    'run_knn_eval'
]
