"""An mmengine file backend writing local files atomically, for checkpoints.

:class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` whose writes
(``put``, ``put_text``) go through :func:`.atomic_write.write_atomically`.
It is registered under the name :data:`ATOMIC_BACKEND` (a new name: no
other backend changes), and it is used only where it is asked for:
``runner.save_checkpoint(..., backend_args=atomic_backend_args(out_dir))``
(mmengine's ``get_file_backend`` takes ``backend_args['backend']`` before
the path's prefix). Logs, json files and config dumps keep mmengine's
in-place writes.
"""
from mmengine.fileio import register_backend
from mmengine.fileio.backends import LocalBackend

from .atomic_write import write_atomically

__all__ = ['ATOMIC_BACKEND', 'AtomicLocalBackend', 'atomic_backend_args']

ATOMIC_BACKEND = 'cim_atomic_local'


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes replace the file atomically (a kill
    leaves the old file or the new one, never a truncated one)."""

    def put(self, obj, filepath):
        """Write ``obj`` (bytes) to ``filepath`` (str or Path) atomically."""
        write_atomically(filepath, obj)

    def put_text(self, obj, filepath, encoding='utf-8'):
        """Write ``obj`` (str, encoded with ``encoding``) to ``filepath``
        atomically."""
        write_atomically(filepath, obj, encoding=encoding)


# force: importing this module again (a reload) registers the same name.
register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def atomic_backend_args(out_dir, backend_args=None, file_client_args=None):
    """The ``backend_args`` for ``runner.save_checkpoint(out_dir, ...)``.

    ``out_dir`` (str or Path): where the checkpoint goes; ``backend_args``
    and ``file_client_args``: what the caller (a hook) was configured with.
    Returns ``dict(backend=ATOMIC_BACKEND)`` when ``out_dir`` is a local
    path (no ``scheme://``, mmengine's rule for the local backend) and
    neither is given: the save is atomic. Otherwise ``backend_args``
    unchanged: a user's backend and a remote ``out_dir`` stay as they are.
    """
    chosen = backend_args is not None or file_client_args is not None
    if chosen or '://' in str(out_dir):
        return backend_args
    return dict(backend=ATOMIC_BACKEND)
