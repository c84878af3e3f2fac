"""An epoch-based training loop that continues a checkpoint mid-epoch."""
import logging

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import LOOPS

from .seekable import seekable_sampler

ITERS_PER_EPOCH = 'train_iters_per_epoch'  # message hub runtime info


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes exactly where a checkpoint was
    saved, also mid-epoch.

    mmengine's loop restarts the epoch at batch 0 after a resume. Here an
    epoch e entered at iteration i (``meta['epoch']`` and ``meta['iter']``
    of any runner checkpoint: ``CheckpointHook`` by iteration, or one saved
    when a job is stopped) serves only its batches ``i - e * len(dataloader)``
    onwards, numbered as in the uninterrupted run (the hooks see the same
    ``batch_idx``). With :class:`~cim_mm.datasets.ResumableSampler` the
    sampler simply starts there, on every rank; with other samplers the
    skipped batches are loaded and discarded (exact if their order and
    draws are seeded).

    The loop also sets the sampler's epoch itself (as
    ``DistSamplerSeedHook`` does) and records the epoch length in the
    message hub, so a resume with another batch size or number of processes
    is reported as not exact.

    Args: as ``EpochBasedTrainLoop``.
    """

    def _batches_done(self) -> int:
        """Batches of the current epoch that the checkpoint already ran."""
        length = len(self.dataloader)
        done = self._iter - self._epoch * length
        if not 0 <= done <= length:
            raise RuntimeError(
                f'ResumableEpochBasedTrainLoop: resumed at iteration '
                f'{self._iter} in epoch {self._epoch}, which does not lie in '
                f'that epoch with {length} iterations per epoch (was the '
                'checkpoint saved with another batch size, dataset or number '
                'of processes?).')
        saved = self.runner.message_hub.get_info(ITERS_PER_EPOCH)
        if done and saved is not None and saved != length:
            print_log(
                f'ResumableEpochBasedTrainLoop: the checkpoint ran {saved} '
                f'iterations per epoch, this run {length}: the rest of epoch '
                f'{self._epoch} is not the one the first run would have '
                'served.',
                logger='current',
                level=logging.WARNING)
        return done

    def run_epoch(self) -> None:
        """Run the current epoch from the first batch not yet trained."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        sampler = getattr(self.dataloader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(self._epoch)
        done = self._batches_done()
        self.runner.message_hub.update_info(ITERS_PER_EPOCH,
                                            len(self.dataloader))
        if done:
            print_log(
                f'Resuming epoch {self._epoch} at batch {done} of '
                f'{len(self.dataloader)}',
                logger='current',
                level=logging.INFO)
            sampler = seekable_sampler(self.dataloader, type(self).__name__)
        if done and sampler is not None:
            # (a last, partial batch: the whole epoch on this rank)
            sampler.set_start(
                min(done * self.dataloader.batch_size, len(sampler)))
            batches = enumerate(self.dataloader, done)
        else:
            batches = enumerate(self.dataloader)
            for _ in range(done):
                next(batches)
        for idx, data_batch in batches:
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
