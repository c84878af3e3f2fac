"""Checkpoints and ``last_checkpoint`` that a kill cannot corrupt."""
import functools

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from cim_mm.checkpoint.atomic_backend import atomic_backend_args
from cim_mm.checkpoint.latest import write_pointer

from .patching import patch

__all__ = ['patch_atomic_checkpoint_saving']


def _remove_checkpoint(hook, step):
    path = hook.file_backend.join_path(hook.out_dir,
                                       hook.filename_tmpl.format(step))
    if hook.file_backend.isfile(path):
        hook.file_backend.remove(path)
    elif hook.file_backend.isdir(path):  # DeepSpeed saves folders
        hook.file_backend.rmtree(path)


def _save_then_rotate(original):

    @functools.wraps(original)
    def _save_checkpoint_with_step(self, runner, step, meta):
        outdated = []
        # Same bookkeeping as upstream (the ids go into this checkpoint's
        # message hub), but the outdated file is removed after the save.
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            # Atomic when local and the user chose no backend of their own.
            backend_args=atomic_backend_args(self.out_dir, self.backend_args,
                                             self.file_client_args),
            **self.args)
        if not is_main_process():
            return
        write_pointer(runner.work_dir, self.last_ckpt)
        for old_step in outdated:
            _remove_checkpoint(self, old_step)

    return _save_checkpoint_with_step


def patch_atomic_checkpoint_saving():
    """Write checkpoints and the pointer atomically; rotate after saving.

    Upstream: mmengine 0.10.7 writes local files in place
    (``LocalBackend.put``/``put_text``: open, write) and the work dir's
    ``last_checkpoint`` pointer with a plain ``open(..., 'w')``; with
    ``max_keep_ckpts`` the ``CheckpointHook`` deletes the oldest checkpoint
    *before* saving the new one. A kill during the save therefore leaves a
    truncated checkpoint, an empty pointer, or (``max_keep_ckpts=1``) no
    good checkpoint at all.

    Fix: ``CheckpointHook._save_checkpoint_with_step`` saves the checkpoint
    through :class:`cim_mm.checkpoint.atomic_backend.AtomicLocalBackend`
    (``backend_args=dict(backend='cim_atomic_local')``; its writes are
    :func:`cim_mm.checkpoint.atomic_write.write_atomically`: temporary file
    in the same folder, flush, fsync, rename, fsync of the folder), then
    writes the pointer atomically, then deletes the outdated checkpoint.
    Only when the hook's ``out_dir`` is local and the hook has no
    ``backend_args`` (nor ``file_client_args``) of its own: a user's
    backend and remote out dirs are as upstream. ``LocalBackend`` itself is
    untouched: logs, json files, config dumps and the best checkpoints of
    ``save_best`` (not what ``--resume`` reads; their rotation too) are
    written in place, as upstream writes them.

    Remove when mmengine writes atomically and rotates after saving.
    """
    patch(CheckpointHook, '_save_checkpoint_with_step', _save_then_rotate)

