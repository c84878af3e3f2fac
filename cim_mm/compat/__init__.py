"""Adaptations of the 2023 OpenMMLab stack to 2026 PyTorch, one per module.

mmengine 0.10.7, mmpretrain 1.2.0 and mmsegmentation 1.2.2 were written for
PyTorch 1.x/2.0 on GPU machines with a compiled mmcv. Each module corrects
one upstream behaviour, says when it can be removed, and is idempotent.
Importing this package changes nothing: :func:`apply_all` applies them, and
``import cim_mm.compat.enable`` (the switch that configs name in
``custom_imports`` and the tools import) calls it.

Only adaptations that upstream offers no extension point for live here;
behaviours that one has are registered components the configs select
(``CIMRunner``, ``AtomicCheckpointHook``, ``model_wrapper_cfg``:
docs/stack.md).

* :mod:`.checkpoint_loading` - mmengine's local checkpoint reads go through
  :mod:`cim_mm.checkpoint` (torch >= 2.6 refuses runner checkpoints).
* :mod:`.mmcv_ext_stand_in` - ``import mmseg.models`` with mmcv-lite.
* :mod:`.config_scope` - ``_base_ = ['cim_mm::...']`` inheritance, and
  ``package::`` config names without ``pkg_resources`` (:func:`load_config`).
* :mod:`.distributed_teardown` - destroy the process groups before exit
  (called by ``tools/train.py`` and ``tools/test.py``; nothing replaced).
* :mod:`.model_hub` - the private ``ModelHub`` parts the model zoo uses.
* :mod:`.patching` - the replace-once helper the patches share.
* :mod:`.enable` - the switch: importing it applies all of the above.
"""
from cim_mm.checkpoint.loading import (UntrustedCheckpointError,
                                       trusted_checkpoints)
from .checkpoint_loading import patch_checkpoint_loading
from .config_scope import load_config, register_config_scope
from .distributed_teardown import shutdown_distributed
from .mmcv_ext_stand_in import install_mmcv_ext_stand_in

__all__ = [
    'UntrustedCheckpointError', 'trusted_checkpoints',
    'patch_checkpoint_loading', 'install_mmcv_ext_stand_in',
    'register_config_scope', 'load_config', 'shutdown_distributed',
    'apply_all'
]


def apply_all():
    """Apply every adaptation (idempotent); called by ``import
    cim_mm.compat.enable``."""
    patch_checkpoint_loading()
    install_mmcv_ext_stand_in()
    register_config_scope()
