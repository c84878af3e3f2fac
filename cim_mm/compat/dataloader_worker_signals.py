"""DataLoader workers keep the stop-signal handlers of their main process."""
import functools
import signal

from torch.utils.data._utils import signal_handling

from .patching import patch

__all__ = [
    'keep_signal_handlers_in_workers', 'patch_dataloader_worker_signals'
]

# signal number -> handler that forked workers re-install (inherited by
# fork: the workers of a main process that registered them).
_KEPT = {}


def keep_signal_handlers_in_workers(handlers):
    """Have DataLoader workers re-install ``handlers`` ({signal number:
    handler}, or ``None`` values to stop doing so) after torch's own."""
    for signum, handler in handlers.items():
        if handler is None:
            _KEPT.pop(signum, None)
        else:
            _KEPT[signum] = handler


def _then_kept_handlers(original):

    @functools.wraps(original)
    def set_worker_signal_handlers(*args, **kwargs):
        original(*args, **kwargs)
        for signum, handler in _KEPT.items():
            signal.signal(signum, handler)

    return set_worker_signal_handlers


def patch_dataloader_worker_signals():
    """Let workers re-install handlers registered by the main process.

    Upstream: torch's DataLoader worker loop starts with
    ``_set_worker_signal_handlers()``, whose C SIGTERM handler exits quietly
    on a SIGTERM from the worker's parent and otherwise dies of it,
    replacing whatever handler the worker inherited. torchrun passes SIGTERM
    on to each rank's whole process group (``os.killpg``) and Slurm signals
    every process of a step, so the workers die and the main process's
    SIGCHLD handler raises ``DataLoader worker (pid N) is killed by signal:
    Terminated`` in the middle of whatever it runs (seen with 2 ranks of
    ``dist_train.sh``: the stop's checkpoint save failed).

    Fix: after torch's handlers, the worker installs the handlers registered
    with :func:`keep_signal_handlers_in_workers` (by ``StopOnSignalHook``;
    none by default, i.e. upstream behaviour). Only forked workers see them.

    Remove when torch lets a worker ignore signals its main process handles.
    """
    patch(signal_handling, '_set_worker_signal_handlers', _then_kept_handlers)
