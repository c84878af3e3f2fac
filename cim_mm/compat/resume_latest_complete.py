"""``--resume`` finds the newest complete checkpoint, whatever the pointer."""
import functools
import importlib

from cim_mm.checkpoint.latest import find_latest_complete_checkpoint

from .patching import patch

__all__ = ['patch_resume_latest_complete']

# Every module that holds mmengine's find_latest_checkpoint under that name
# (``from .checkpoint import find_latest_checkpoint``).
_HOLDERS = ('mmengine.runner.checkpoint', 'mmengine.runner',
            'mmengine.runner.runner', 'mmengine.runner._flexible_runner')


def _complete_or_newest(original):

    @functools.wraps(original)
    def find_latest_checkpoint(path):
        return find_latest_complete_checkpoint(path)

    return find_latest_checkpoint


def patch_resume_latest_complete():
    """Resume from the newest complete checkpoint of the work dir.

    Upstream: mmengine 0.10.7's ``find_latest_checkpoint`` returns the text
    of ``<work_dir>/last_checkpoint`` unchecked: an empty pointer (a kill
    while it was written) gives ``''`` and ``--resume`` fails to open it; a
    pointer to a deleted or truncated file fails the same way; without a
    pointer, checkpoints in the work dir are ignored and training restarts.

    Fix: it is :func:`cim_mm.checkpoint.latest.find_latest_complete_checkpoint`
    (the pointer when it names a complete checkpoint, else the newest
    complete ``epoch_<n>.pth``/``iter_<n>.pth`` with a WARNING naming what
    was skipped), in every module that imported it by name. Only local
    files in torch's zip format (complete, cut short or empty) and local
    paths that are gone are checked: a pointer naming a remote path
    (``s3://...``, ``petrel:...``), a folder (DeepSpeed) or a non-zip file
    (torch's legacy format) is returned as upstream returns it.

    Remove when mmengine validates the pointer itself.
    """
    for name in _HOLDERS:
        module = importlib.import_module(name)
        if hasattr(module, 'find_latest_checkpoint'):
            patch(module, 'find_latest_checkpoint', _complete_or_newest)
