"""An iteration-based training loop that resumes without reloading."""
import logging

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator
from mmpretrain.registry import LOOPS

from .seekable import seekable_sampler


class _SkipThenLoad:
    """Returns None ``skip`` times, then the batches of a new iterator of
    ``dataloader`` (created after the skips, when the sampler's start is
    set)."""

    def __init__(self, skip: int, dataloader) -> None:
        self.skip = skip
        self.dataloader = dataloader
        self.iterator = None

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip:
            self.skip -= 1
            return None
        if self.iterator is None:
            self.iterator = _InfiniteDataloaderIterator(self.dataloader)
        return next(self.iterator)


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` whose resume at iteration i does not load the
    i skipped batches: with :class:`~cim_mm.datasets.
    ResumableInfiniteSampler` the sampler starts at this rank's index
    ``i x batch_size`` directly (mmengine's loop loads and discards i
    batches; the batches served afterwards are the same). With other
    samplers it behaves as mmengine's loop.

    Args: as ``IterBasedTrainLoop``.
    """

    def run(self):
        if self._iter > 0:
            sampler = seekable_sampler(self.dataloader, type(self).__name__)
            if sampler is not None:
                sampler.set_start(self._iter * self.dataloader.batch_size)
                print_log(
                    f'Resuming at iteration {self._iter}: the sampler starts '
                    'there (the "advance" below loads nothing)',
                    logger='current',
                    level=logging.INFO)
                self.dataloader_iterator = _SkipThenLoad(
                    self._iter, self.dataloader)
        return super().run()
