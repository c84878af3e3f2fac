"""The exit policy of the checkpoint converters' command lines."""
import sys
from typing import Callable

from .key_maps import CheckpointConversionError
from .loading import CheckpointReadError, UntrustedCheckpointError

#: What a converter reports as bad input (exit status 2), not a crash.
BAD_INPUT_ERRORS = (FileNotFoundError, UntrustedCheckpointError,
                    CheckpointReadError, CheckpointConversionError)


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
