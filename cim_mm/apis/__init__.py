"""User-facing APIs: the CIM model zoo in mmpretrain's ModelHub and the
one-shot localisation inferencer.

Importing this package registers the models of ``model-index.yml`` so that
``mmpretrain.list_models('*cim*')`` and ``mmpretrain.get_model(name)`` find
them (see :mod:`cim_mm.apis.model_zoo`). :class:`CorrelationInferencer`
predicts where an exemplar is in an image
(:mod:`cim_mm.apis.correlation_inferencer`).
"""
# The inferencer's checkpoint reading, re-exported: reading checkpoints is
# cim_mm.checkpoint's job.
from cim_mm.checkpoint import CheckpointMismatchError, load_cim_checkpoint
from .correlation_box import (MapRegion, correlation_sizes, crop_box,
                              largest_region)
from .correlation_inferencer import CorrelationInferencer
from .model_zoo import find_model_index, register_cim_models

CIM_MODELS = register_cim_models()

__all__ = [
    'CIM_MODELS', 'find_model_index', 'register_cim_models',
    'CorrelationInferencer', 'CheckpointMismatchError', 'load_cim_checkpoint',
    'correlation_sizes', 'MapRegion', 'crop_box', 'largest_region'
]
