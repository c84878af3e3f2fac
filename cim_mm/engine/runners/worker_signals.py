"""Signal handlers that forked DataLoader workers install for themselves.

torch's worker loop starts by installing its own handlers (its C SIGTERM
handler exits quietly on a SIGTERM from the worker's parent and otherwise
dies of it), replacing whatever the worker inherited, and only then calls
the DataLoader's ``worker_init_fn``. torchrun passes SIGTERM on to each
rank's whole process group and Slurm signals every process of a step, so
without a handler of their own the workers die and the main process's
SIGCHLD handler raises ``DataLoader worker (pid N) is killed by signal``
in the middle of whatever it runs (the stop's checkpoint save, say).

:class:`~cim_mm.engine.hooks.StopOnSignalHook` registers its handlers here
with :func:`keep_signal_handlers_in_workers`; :func:`chain_worker_init`
makes a DataLoader's ``worker_init_fn`` (mmengine's seeded one, kept)
install them in each worker (``CIMRunner`` does it for the loaders it
builds).
"""
import functools
import signal
from typing import Callable, Dict, Optional

# signal number -> handler that forked workers install (inherited by fork:
# the workers of a main process that registered them).
_KEPT: Dict[int, Callable] = {}


def keep_signal_handlers_in_workers(handlers: Dict[int, Optional[Callable]]
                                    ) -> None:
    """Have DataLoader workers install ``handlers`` ({signal number:
    handler}, or ``None`` values to stop doing so) after torch's own."""
    for signum, handler in handlers.items():
        if handler is None:
            _KEPT.pop(signum, None)
        else:
            _KEPT[signum] = handler


def install_kept_signal_handlers() -> None:
    """In a worker: install the handlers registered by the main process."""
    for signum, handler in _KEPT.items():
        signal.signal(signum, handler)


def _init_then_install(worker_id: int, init: Optional[Callable]) -> None:
    if init is not None:
        init(worker_id)
    install_kept_signal_handlers()


def chain_worker_init(init: Optional[Callable]) -> Callable:
    """A ``worker_init_fn`` that runs ``init`` (e.g. mmengine's seeded
    default; None: nothing) and then installs the kept handlers. Picklable
    when ``init`` is (spawned workers)."""
    return functools.partial(_init_then_install, init=init)
