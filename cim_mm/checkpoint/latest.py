"""The ``last_checkpoint`` pointer of a work dir and the checkpoint to resume.

mmengine's ``CheckpointHook`` writes ``<work_dir>/last_checkpoint`` (the path
of the newest checkpoint) after each save, and ``--resume`` without a path
reads it. :func:`find_latest_complete_checkpoint` trusts the pointer only when
it names a complete checkpoint; otherwise (no pointer, an empty one, a file
that is gone or truncated) it takes the newest complete runner checkpoint
of the work dir and logs a WARNING naming what it skipped and why.

Only what can be checked here is checked: a local file that is a torch zip
archive (or a cut-short one, or an empty file). A pointer naming anything
else - a remote path (``s3://...``, ``petrel:...``), a folder (a DeepSpeed
checkpoint), a file in torch's legacy non-zip format - is returned as
mmengine returns it, for mmengine to load.
"""
import logging
import os
import os.path as osp
import re
import zipfile

from mmengine.logging import print_log

from .atomic_write import is_temporary_file, write_atomically

__all__ = [
    'POINTER_NAME', 'RUNNER_CHECKPOINT_NAME', 'checkpoint_problem',
    'find_latest_complete_checkpoint', 'write_pointer'
]

POINTER_NAME = 'last_checkpoint'
# The names mmengine's CheckpointHook and cim_mm's StopOnSignalHook save.
RUNNER_CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_\d+\.pth$')
# What a backend path starts with: ``scheme://`` (s3, http, petrel, ...) or
# mmengine's ``name:`` prefix (``cluster:s3://``, ``petrel:``). Two or more
# characters, so that a Windows drive (``C:``) is no scheme.
_BACKEND_PREFIX = re.compile(r'^[A-Za-z][\w+.-]+:')
# How a zip archive (torch's format since 1.6) begins.
_ZIP_MAGIC = b'PK\x03\x04'


def write_pointer(work_dir, checkpoint):
    """Point ``<work_dir>/last_checkpoint`` at ``checkpoint``, atomically."""
    write_atomically(osp.join(work_dir, POINTER_NAME), str(checkpoint))


def checkpoint_problem(path):
    """Why ``path`` cannot be resumed from (a short phrase), or ``None``.

    A torch checkpoint is a zip archive whose index is written last: a file
    cut short by a kill has none. (Checks the structure, not every byte.)
    """
    if not osp.isfile(path):
        return 'missing'
    if os.path.getsize(path) == 0:
        return 'empty'
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith('data.pkl')
                       for name in archive.namelist()):
                return 'incomplete: no data.pkl in the archive'
    except (zipfile.BadZipFile, OSError, EOFError):
        return 'incomplete: not a complete torch zip archive'
    return None


def _checked_here(pointed):
    """Whether the pointer's target ``pointed`` (non-empty text) is checked
    by :func:`checkpoint_problem` (a local zip archive, cut-short or empty
    file, or a local path that is gone) rather than returned unchecked, as
    mmengine does (a remote path, a folder, a file that is not a zip)."""
    if osp.isdir(pointed):
        return False  # a folder checkpoint (DeepSpeed): mmengine loads it
    if osp.isfile(pointed):
        try:
            with open(pointed, 'rb') as file:
                head = file.read(len(_ZIP_MAGIC))
        except OSError:
            return True  # unreadable: checkpoint_problem says why
        # Empty, a zip, or a zip cut short within its first 4 bytes.
        return _ZIP_MAGIC.startswith(head)
    if osp.lexists(pointed):
        return True  # a broken link or a special file: 'missing'
    # Gone: a local path is 'missing'; a backend path is not local.
    return not ('://' in pointed or _BACKEND_PREFIX.match(pointed))


def _read_pointer(work_dir):
    """The pointer's text (stripped), or ``None`` without a pointer."""
    pointer = osp.join(work_dir, POINTER_NAME)
    if not osp.isfile(pointer):
        return None
    with open(pointer) as file:
        return file.read().strip()


def _candidates(work_dir):
    """Runner checkpoints of ``work_dir``, newest (modification time) first,
    and the temporary files left by interrupted writes."""
    checkpoints, temporaries = [], []
    for name in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, name)
        if is_temporary_file(name):
            temporaries.append(path)
        elif RUNNER_CHECKPOINT_NAME.match(name) and osp.isfile(path):
            checkpoints.append(path)
    checkpoints.sort(key=lambda p: (os.stat(p).st_mtime_ns, p), reverse=True)
    return checkpoints, temporaries


def find_latest_complete_checkpoint(work_dir):
    """The checkpoint ``--resume`` should continue from, or ``None``.

    ``work_dir`` (str): the local work dir holding ``last_checkpoint``.
    Returns the pointer's text (stripped) when it names a complete
    checkpoint, or anything not checked here (a remote path, a folder, a
    non-zip file: mmengine's own answer); else the path of the newest
    complete ``epoch_<n>.pth`` / ``iter_<n>.pth`` of ``work_dir``, with a
    WARNING naming the pointer's state and each skipped file; ``None`` when
    there is none.
    """
    if not osp.isdir(work_dir):
        return None
    pointed = _read_pointer(work_dir)
    if pointed and not _checked_here(pointed):
        return pointed
    if pointed:
        problem = checkpoint_problem(pointed)
        if problem is None:
            return pointed
        why = [f'{POINTER_NAME} names {pointed}, which is {problem}']
    elif pointed is None:
        why = [f'there is no {POINTER_NAME} file']
    else:
        why = [f'{POINTER_NAME} is empty']
    checkpoints, temporaries = _candidates(work_dir)
    if not checkpoints and pointed is None and not temporaries:
        print_log(f'No checkpoint to resume in {work_dir}: training starts '
                  'from the beginning.', logger='current')
        return None
    found = None
    skipped = [f'{osp.basename(t)} (temporary file of an interrupted write)'
               for t in temporaries]
    for path in checkpoints:
        if pointed and osp.abspath(path) == osp.abspath(pointed):
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            found = path
            break
        skipped.append(f'{osp.basename(path)} ({problem})')
    if skipped:
        why.append('skipped: ' + ', '.join(skipped))
    outcome = (f'resuming from {found}, the newest complete checkpoint'
               if found else 'no complete checkpoint is left: training '
               'starts from the beginning')
    print_log(f'Resume in {work_dir}: {"; ".join(why)}; {outcome}.',
              logger='current', level=logging.WARNING)
    return found
