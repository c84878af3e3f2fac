"""User-facing APIs: the CIM model zoo in mmpretrain's ModelHub.

Importing this package registers the models of ``model-index.yml`` so that
``mmpretrain.list_models('*cim*')`` and ``mmpretrain.get_model(name)`` find
them (see :mod:`cim_mm.apis.model_zoo`).
"""
from .model_zoo import find_model_index, register_cim_models

CIM_MODELS = register_cim_models()

__all__ = ['CIM_MODELS', 'find_model_index', 'register_cim_models']
