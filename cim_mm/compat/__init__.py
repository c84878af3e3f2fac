"""Adaptations of the 2023 OpenMMLab stack to 2026 PyTorch, one per module.

mmengine 0.10.7, mmpretrain 1.2.0 and mmsegmentation 1.2.2 were written for
PyTorch 1.x/2.0 on GPU machines with a compiled mmcv. Each module corrects
one upstream behaviour, says when it can be removed, and is idempotent.
Importing this package changes nothing: :func:`apply_all` applies them, and
``import cim_mm.compat.enable`` (the switch that configs name in
``custom_imports`` and the tools import) calls it.

* :mod:`.checkpoint_loading` - mmengine's local checkpoint reads go through
  :mod:`cim_mm.checkpoint` (torch >= 2.6 refuses runner checkpoints).
* :mod:`.distributed_without_gpu` - ``--launcher pytorch`` without a GPU.
* :mod:`.mmcv_ext_stand_in` - ``import mmseg.models`` with mmcv-lite.
* :mod:`.config_scope` - ``_base_ = ['cim_mm::...']`` inheritance, and
  ``package::`` config names without ``pkg_resources`` (:func:`load_config`).
* :mod:`.distributed_teardown` - destroy the process groups before exit
  (called by ``tools/train.py`` and ``tools/test.py``).
* :mod:`.atomic_checkpoint_saving` - checkpoints and ``last_checkpoint``
  written atomically, old checkpoints deleted after the new one is saved.
* :mod:`.resume_latest_complete` - ``--resume`` with an empty or stale
  ``last_checkpoint`` takes the newest complete checkpoint.
* :mod:`.dataloader_worker_signals` - DataLoader workers keep the
  stop-signal handlers of their main process (``StopOnSignalHook``).
* :mod:`.model_hub` - the private ``ModelHub`` parts the model zoo uses.
* :mod:`.patching` - the replace-once helper the patches share.
* :mod:`.enable` - the switch: importing it applies all of the above.
"""
from cim_mm.checkpoint.loading import (UntrustedCheckpointError,
                                       trusted_checkpoints)
from .atomic_checkpoint_saving import patch_atomic_checkpoint_saving
from .checkpoint_loading import patch_checkpoint_loading
from .config_scope import load_config, register_config_scope
from .dataloader_worker_signals import (keep_signal_handlers_in_workers,
                                        patch_dataloader_worker_signals)
from .distributed_teardown import shutdown_distributed
from .distributed_without_gpu import patch_distributed_without_gpu
from .mmcv_ext_stand_in import install_mmcv_ext_stand_in
from .resume_latest_complete import patch_resume_latest_complete

__all__ = [
    'UntrustedCheckpointError', 'trusted_checkpoints',
    'patch_checkpoint_loading', 'patch_distributed_without_gpu',
    'install_mmcv_ext_stand_in', 'register_config_scope', 'load_config',
    'shutdown_distributed', 'patch_atomic_checkpoint_saving',
    'patch_resume_latest_complete', 'patch_dataloader_worker_signals',
    'keep_signal_handlers_in_workers', 'apply_all'
]


def apply_all():
    """Apply every adaptation (idempotent); called by ``import
    cim_mm.compat.enable``."""
    patch_checkpoint_loading()
    patch_distributed_without_gpu()
    install_mmcv_ext_stand_in()
    register_config_scope()
    patch_atomic_checkpoint_saving()
    patch_resume_latest_complete()
    patch_dataloader_worker_signals()
