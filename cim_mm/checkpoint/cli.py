"""What the checkpoint converters' command lines share: their numbered
steps, reading the source, writing the output, and the exit policy."""
import os
import os.path as osp
import sys
import time
from typing import Any, Callable, Tuple

import torch

from .key_maps import CheckpointConversionError
from .loading import (CheckpointReadError, UntrustedCheckpointError,
                      read_checkpoint)

#: What a converter reports as bad input (exit status 2), not a crash.
BAD_INPUT_ERRORS = (FileNotFoundError, UntrustedCheckpointError,
                    CheckpointReadError, CheckpointConversionError)
#: The converters' steps: read, inspect, convert, verify.
NUM_STEPS = 4


def log_step(step: int, message: str) -> None:
    """Print ``[step/4] message`` to stdout (flushed)."""
    print(f'[{step}/{NUM_STEPS}] {message}', flush=True)


def read_source(path: str) -> Tuple[Any, float]:
    """Step 1: read ``path`` with :func:`read_checkpoint` (weights only,
    the objects of runner and release checkpoints accepted), announced with
    its size; returns the checkpoint and the seconds the read took.

    Raises:
        FileNotFoundError, UntrustedCheckpointError, CheckpointReadError:
            as :func:`read_checkpoint`.
    """
    size_mb = os.path.getsize(path) / 2**20 if osp.isfile(path) else 0
    log_step(1, f'reading {path} ({size_mb:.1f} MiB, weights only)')
    start = time.time()
    checkpoint = read_checkpoint(path, map_location='cpu')
    return checkpoint, time.time() - start


def save_converted(output: Any, dst: str, usage: str) -> None:
    """Write ``output`` (tensors and plain containers) to ``dst``, making
    its folder, check that the file reads back weights-only with no runner
    objects (``read_checkpoint(runner_objects=False)``, on the meta device:
    no tensor data is read), and print ``saved DST; use it with USAGE``."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(output, dst)
    read_checkpoint(dst, map_location='meta', runner_objects=False)
    print(f'saved {dst}; use it with {usage}', flush=True)


def run_converter(convert: Callable, args) -> int:
    """``convert(args)``'s exit status, or 2 with ``error: <message>`` on
    stderr when the input cannot be read or converted (the message names
    the file and the fix)."""
    try:
        return convert(args)
    except BAD_INPUT_ERRORS as err:
        message = err.strerror if isinstance(
            err, FileNotFoundError) and err.strerror else str(err)
        print(f'error: {message}', file=sys.stderr)
        return 2
