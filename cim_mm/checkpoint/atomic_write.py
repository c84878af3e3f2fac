"""Writing a file so that a kill at any moment leaves the old or the new one.

The bytes go to a temporary file in the destination's folder (same file
system, so the rename is atomic), which is flushed, fsynced and renamed over
the destination; the folder is fsynced so that the rename survives a crash
of the machine. A process killed half-way leaves the destination untouched
and, at worst, a temporary file ``.<name>.<random>.tmp`` that
:func:`is_temporary_file` recognises (resume ignores it and names it).

What an in-place ``open(path, 'w')`` keeps is kept: an existing file's
permission bits, and a symbolic link (the file it points to is replaced,
the link stays a link).
"""
import os
import os.path as osp
import re
import stat
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


def _mode_for(path):
    """The permission bits ``open(path, 'w')`` leaves ``path`` with: those
    of the existing file, else 0o666 - umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
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
    """Replace ``path`` (str or path-like) by ``data`` (bytes, or str
    encoded with ``encoding``) atomically: readers see the old file or the
    complete new one. Returns nothing. An existing file keeps its permission
    bits (a new one gets 0o666 - umask); when ``path`` is a symbolic link,
    the file it points to is replaced and the link is kept."""
    if isinstance(data, str):
        data = data.encode(encoding)
    # Through links, to the file itself (created there if the link dangles).
    path = osp.realpath(os.fspath(path))
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
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        # An exception (not a kill): nothing of the new file is left.
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    _fsync_folder(folder)
