"""Checkpoints: reading (one trust policy), key maps, conversion checks.

* :mod:`.loading` - :func:`read_checkpoint`, the only ``torch.load`` of
  cim_mm and its tools: weights only, full unpickling behind
  :func:`trusted_checkpoints` / ``CIM_MM_TRUST_CHECKPOINTS=1``.
* :mod:`.key_maps` - pure functions from CIM/mmpretrain names to mmpretrain,
  mmseg and timm names.
* :mod:`.atomic_write` - :func:`write_atomically` (temporary file, fsync,
  rename): a kill leaves the old file or the new one.
* :mod:`.atomic_backend` - the mmengine file backend ``'cim_atomic_local'``
  that writes that way, and :func:`atomic_backend_args`, which asks a
  checkpoint save for it.
* :mod:`.latest` - the work dir's ``last_checkpoint`` pointer and the
  checkpoint ``--resume`` continues from.
* :mod:`.strict_loading` - :func:`load_cim_checkpoint`, a CIM runner
  checkpoint loaded strictly into a CIM model (the correlation inferencer).
* :mod:`.verification` - build the target model and load a converted state
  dict strictly.
"""
from .atomic_backend import (ATOMIC_BACKEND, AtomicLocalBackend,
                             atomic_backend_args)
from .atomic_write import is_temporary_file, write_atomically
from .key_maps import (CONVERTERS, ENCODER_PREFIXES, TARGETS,
                       CheckpointConversionError, backbone_kind,
                       describe_prefixes,
                       encoder_state_dict, expected_missing_keys,
                       mmpretrain_backbone, mmpretrain_to_mmseg,
                       mmpretrain_to_timm, resnet_depth, source_state_dict,
                       vit_arch)
from .latest import (POINTER_NAME, checkpoint_problem,
                     find_latest_complete_checkpoint, write_pointer)
from .loading import (RELEASE_CHECKPOINT_GLOBALS, RUNNER_CHECKPOINT_GLOBALS,
                      TRUST_ENV_VAR,
                      CheckpointReadError, UntrustedCheckpointError,
                      checkpoints_trusted, load_from_local, read_checkpoint,
                      trusted_checkpoints)
from .strict_loading import CheckpointMismatchError, load_cim_checkpoint
from .verification import (build_target_model, default_num_heads,
                           timm_model_args, verify_conversion)

__all__ = [
    'CONVERTERS', 'ENCODER_PREFIXES', 'TARGETS', 'CheckpointConversionError',
    'backbone_kind', 'describe_prefixes', 'encoder_state_dict', 'expected_missing_keys',
    'mmpretrain_backbone', 'mmpretrain_to_mmseg', 'mmpretrain_to_timm',
    'resnet_depth', 'source_state_dict', 'vit_arch',
    'RELEASE_CHECKPOINT_GLOBALS', 'RUNNER_CHECKPOINT_GLOBALS', 'TRUST_ENV_VAR',
    'CheckpointReadError',
    'UntrustedCheckpointError', 'checkpoints_trusted', 'load_from_local',
    'read_checkpoint', 'trusted_checkpoints', 'build_target_model',
    'default_num_heads', 'timm_model_args', 'verify_conversion',
    'is_temporary_file', 'write_atomically', 'ATOMIC_BACKEND',
    'AtomicLocalBackend', 'atomic_backend_args', 'POINTER_NAME',
    'checkpoint_problem', 'find_latest_complete_checkpoint', 'write_pointer',
    'CheckpointMismatchError', 'load_cim_checkpoint'
]
