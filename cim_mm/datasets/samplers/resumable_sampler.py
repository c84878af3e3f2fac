"""mmengine's ``DefaultSampler`` with keyed indices and a start offset."""
import logging
from typing import Iterator

from mmengine.dataset import DefaultSampler
from mmengine.logging import print_log
from mmpretrain.registry import DATA_SAMPLERS

from .sample_key import SampleKey


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """``DefaultSampler`` (same order, same shards, same arguments) that

    - yields each index as a :class:`SampleKey` ``(seed, epoch, index)``,
      from which ``LoadCheckedImage`` seeds the sample's random draws: a
      pair depends on the seed, the epoch and the index only, not on the
      worker, the number of workers or what that worker drew before;
    - can start an epoch part-way: after :meth:`set_start` (n), the next
      iteration skips this rank's first n indices of the epoch, so a run
      resumed mid-epoch serves the rest of it
      (``ResumableEpochBasedTrainLoop`` sets it from the checkpoint's
      iteration). The start applies to one iteration; then it is 0 again.

    ``len()`` stays the number of indices of the whole epoch on this rank,
    so the DataLoader's length (and the loop's iteration count) does not
    change when an epoch starts part-way.

    Args:
        dataset, shuffle, seed, round_up: As ``DefaultSampler``. With
            ``seed=None`` (the runner passes None under
            ``randomness.diff_rank_seed=True``) the seed is drawn on rank 0
            and broadcast, from rank 0's RNG seeded by the run's seed.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._start = 0

    def set_start(self, start: int) -> None:
        """Skip this rank's first ``start`` indices in the next epoch."""
        if not 0 <= start <= self.num_samples:
            raise ValueError(f'ResumableSampler: start must lie in [0, '
                             f'{self.num_samples}] (the indices of an epoch '
                             f'on this rank), got {start}.')
        self._start = start

    def __iter__(self) -> Iterator[SampleKey]:
        start, self._start = self._start, 0
        if start:
            print_log(
                f'ResumableSampler: epoch {self.epoch} starts at index '
                f'{start} of {self.num_samples} on this rank',
                logger='current',
                level=logging.INFO)
        indices = list(super().__iter__())[start:]
        return iter([SampleKey(i, self.seed, self.epoch) for i in indices])
