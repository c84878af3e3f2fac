"""Reading checkpoint files: the one place where cim_mm calls ``torch.load``.

One policy for every reader (the runner's ``load_from``/``resume``,
``init_cfg=dict(type='Pretrained')``, ``mmengine.runner.load_checkpoint``,
``mmpretrain.get_model(pretrained=...)``, the converter and the tools):

* **weights only** (``torch.load(weights_only=True)``): tensors, containers,
  plain Python values, the few objects an mmengine runner checkpoint
  pickles (:data:`RUNNER_CHECKPOINT_GLOBALS`) and the ``argparse.Namespace``
  of the CIM authors' MAE-style checkpoints
  (:data:`RELEASE_CHECKPOINT_GLOBALS`), nothing else; so no path unpickles
  arbitrary objects (a pickle can run code);
* **full unpickling** only behind an explicit opt-in, for files you trust:
  ``with cim_mm.checkpoint.trusted_checkpoints():`` in Python, or the
  environment variable ``CIM_MM_TRUST_CHECKPOINTS=1`` for a command.

Errors name the file and the fix: :class:`FileNotFoundError`,
:class:`UntrustedCheckpointError` (something else is pickled) and
:class:`CheckpointReadError` (not a torch checkpoint).
"""
import argparse
import contextlib
import contextvars
import errno
import os
import os.path as osp
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = [
    'RUNNER_CHECKPOINT_GLOBALS', 'RELEASE_CHECKPOINT_GLOBALS', 'TRUST_ENV_VAR',
    'CheckpointReadError', 'UntrustedCheckpointError', 'trusted_checkpoints', 'checkpoints_trusted',
    'read_checkpoint', 'load_from_local'
]

TRUST_ENV_VAR = 'CIM_MM_TRUST_CHECKPOINTS'

# The non-tensor objects an mmengine 0.10.7 runner checkpoint pickles (its
# message hub's HistoryBuffers hold numpy arrays and scalars), as reported by
# torch.serialization.get_unsafe_globals_in_checkpoint, and nothing else.
#
# Why ``builtins.getattr`` is acceptable here: torch's weights-only unpickler
# executes a REDUCE (a call) only when the callable itself is allowlisted,
# and resolves a GLOBAL only for allowlisted names. ``getattr`` can therefore
# only fetch attributes of objects the unpickler was already allowed to
# build (these classes, tensors, containers); whatever it fetches, e.g. a
# method, a function's ``__globals__`` or ``os.system`` reached through
# them, is refused as soon as the pickle tries to call it, because it is
# not on the allowlist. tests/test_checkpoint/test_loading.py checks that
# with a pickle that walks to ``os.system`` through getattr.
RUNNER_CHECKPOINT_GLOBALS = [
    (np.dtype, 'numpy.dtype'),
    (np.ndarray, 'numpy.ndarray'),
    (np.core.multiarray.scalar, 'numpy.core.multiarray.scalar'),
    (np.core.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (getattr, 'builtins.getattr'),
]
# A pickled numpy dtype is rebuilt (BUILD, i.e. ``__setstate__``) as an
# instance of its concrete class, e.g. ``numpy.dtypes.Float64DType``; those
# classes are never called, only given back the dtype's plain state.
RUNNER_CHECKPOINT_GLOBALS += [
    type(np.dtype(name))
    for name in ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'float16',
                 'float32', 'float64')
]

# The CIM authors' checkpoints (an MAE-style ``save_model``) pickle the
# training script's ``argparse.Namespace`` under 'args': a plain class whose
# instance is rebuilt from its ``__dict__`` (the values must themselves pass
# the weights-only unpickler: strings, numbers, lists, ...).
RELEASE_CHECKPOINT_GLOBALS = [(argparse.Namespace, 'argparse.Namespace')]

_TRUSTED = contextvars.ContextVar('cim_mm_trusted_checkpoints', default=False)


class CheckpointReadError(ValueError):
    """The file is not a torch checkpoint (truncated, another format)."""


class UntrustedCheckpointError(pickle.UnpicklingError):
    """The file pickles Python objects outside the weights-only policy."""


@contextlib.contextmanager
def trusted_checkpoints():
    """Within this context, checkpoint files are fully unpickled.

    Use it only for files you trust: unpickling can execute code.
    """
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def checkpoints_trusted() -> bool:
    """Whether reads are fully unpickled now (context or environment)."""
    return _TRUSTED.get() or os.environ.get(TRUST_ENV_VAR, '') == '1'


def _reason(err: Exception) -> str:
    """The one-sentence cause inside torch's long weights-only message."""
    reason = str(err).split('WeightsUnpickler error:', 1)[-1].strip()
    return reason.split('\n', 1)[0].split('. ', 1)[0]


def read_checkpoint(path: str, map_location=None, runner_objects: bool = True):
    """Read a checkpoint file under the policy above.

    Args:
        path (str): A local file.
        map_location: As for ``torch.load``.
        runner_objects (bool): Accept the objects of an mmengine runner
            checkpoint (:data:`RUNNER_CHECKPOINT_GLOBALS`) and of a CIM
            release checkpoint (:data:`RELEASE_CHECKPOINT_GLOBALS`); False
            accepts tensors and plain containers only. Defaults to True.

    Returns:
        The unpickled object (a runner checkpoint dict, a state dict, ...).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UntrustedCheckpointError: weights only, and the file pickles other
            objects.
        CheckpointReadError: the file is not a torch checkpoint.
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(errno.ENOENT,
                                f'Checkpoint file not found: {path}', path)
    trusted = checkpoints_trusted()
    allowed = (RUNNER_CHECKPOINT_GLOBALS +
               RELEASE_CHECKPOINT_GLOBALS if runner_objects else [])
    allowing = (contextlib.nullcontext()
                if trusted else torch.serialization.safe_globals(allowed))
    try:
        with allowing:
            return torch.load(path,
                              map_location=map_location,
                              weights_only=not trusted)
    except pickle.UnpicklingError as err:
        # A malformed pickle (e.g. a text file) is not a refused object.
        if (trusted or 'Weights only load failed' not in str(err)
                or 'Unsupported operand' in str(err)):
            raise CheckpointReadError(
                f"Cannot read '{path}' as a torch checkpoint: {err}") from err
        accepted = ('tensors, the mmengine/numpy types of a runner '
                    "checkpoint and the argparse.Namespace of a CIM release "
                    'checkpoint' if runner_objects else 'tensors')
        raise UntrustedCheckpointError(
            f"Refused to load checkpoint '{path}': it pickles Python objects "
            f'other than {accepted} ({_reason(err)}), and cim_mm reads '
            'checkpoints weights-only. A file that needs more is not a CIM, '
            'mmpretrain or mmengine checkpoint, or must not be trusted. If '
            'you trust it (unpickling can run code), read it inside `with '
            'cim_mm.checkpoint.trusted_checkpoints():` or with '
            f'{TRUST_ENV_VAR}=1, or convert it once to a plain state dict: '
            "torch.save(torch.load(path, weights_only=False)['state_dict'], "
            'new_path).') from err
    except (RuntimeError, EOFError) as err:
        raise CheckpointReadError(
            f"Cannot read '{path}' as a torch checkpoint: {err}") from err


def load_from_local(filename, map_location=None):
    """mmengine's local-file checkpoint scheme, reading through
    :func:`read_checkpoint` (registered by ``import cim_mm.compat.enable``).

    Named like mmengine's loader because ``CheckpointLoader`` logs the backend
    as ``__name__[10:]`` ("local").
    """
    return read_checkpoint(filename, map_location=map_location)
