"""Writing a file so that a kill at any moment leaves the old or the new one.

The bytes go to a temporary file in the destination's folder (same file
system, so the rename is atomic), which is flushed, fsynced and renamed over
the destination; the folder is fsynced so that the rename survives a crash
of the machine. A process killed half-way leaves the destination untouched
and, at worst, a temporary file ``.<name>.<random>.tmp`` that
:func:`is_temporary_file` recognises (resume ignores it and names it).
"""
import os
import os.path as osp
import re
import tempfile

__all__ = ['write_atomically', 'is_temporary_file', 'CHUNK_BYTES']

# Written in slices, so that a 2 GB checkpoint is not copied once more.
CHUNK_BYTES = 64 << 20

_TEMPORARY = re.compile(r'^\..+\.[^.]+\.tmp$')


def is_temporary_file(name):
    """Whether ``name`` (a base name) is one of :func:`write_atomically`'s
    temporary files, left behind by a process killed while writing."""
    return bool(_TEMPORARY.match(name))


def _write_chunks(file, data):
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        file.write(view[start:start + CHUNK_BYTES])


def _default_mode():
    """The mode ``open(path, 'w')`` would give a new file (0o666 - umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path, data, encoding='utf-8'):
    """Replace ``path`` by ``data`` (bytes, or str encoded with ``encoding``)
    atomically: readers see the old file or the complete new one."""
    if isinstance(data, str):
        data = data.encode(encoding)
    path = osp.abspath(os.fspath(path))
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    os.close(fd)
    try:
        with open(temporary, 'wb') as file:
            _write_chunks(file, data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _default_mode())
        os.replace(temporary, path)
    except BaseException:
        # An exception (not a kill): nothing of the new file is left.
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    _fsync_folder(folder)
