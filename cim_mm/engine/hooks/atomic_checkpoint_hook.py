"""mmengine's CheckpointHook, with saves that a kill cannot corrupt."""
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from cim_mm.checkpoint.atomic_backend import atomic_backend_args
from cim_mm.checkpoint.latest import write_pointer


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints, pointer and rotation survive a
    kill at any moment (``default_hooks.checkpoint.type``; registered in
    mmengine's root registry).

    mmengine 0.10.7 writes local checkpoints in place, the work dir's
    ``last_checkpoint`` pointer with a plain ``open(..., 'w')``, and with
    ``max_keep_ckpts`` deletes the oldest checkpoint *before* saving the new
    one: a kill during a save can leave a truncated checkpoint, an empty
    pointer or (``max_keep_ckpts=1``) no good checkpoint at all. Here:

    1. the checkpoint is written through
       :class:`cim_mm.checkpoint.atomic_backend.AtomicLocalBackend`
       (temporary file in the same folder, flush, fsync, rename, fsync of
       the folder) when the out dir is local and the hook has no
       ``backend_args`` (nor ``file_client_args``) of its own; a user's
       backend and remote out dirs are written as upstream writes them;
    2. then the pointer, atomically;
    3. then the outdated checkpoint is deleted.

    Everything else (arguments, ``save_best``, what goes in the message
    hub) is ``CheckpointHook``'s.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        outdated = []
        # upstream's bookkeeping (the ids go into this checkpoint's message
        # hub), but the outdated file is removed after the save
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
            backend_args=atomic_backend_args(self.out_dir, self.backend_args,
                                             self.file_client_args),
            **self.args)
        if not is_main_process():
            return
        write_pointer(runner.work_dir, self.last_ckpt)
        for old_step in outdated:
            self._remove(old_step)

    def _remove(self, step):
        path = self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(step))
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed saves folders
            self.file_backend.rmtree(path)
