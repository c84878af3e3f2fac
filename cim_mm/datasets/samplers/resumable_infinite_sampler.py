"""An infinite sampler with keyed indices, whose passes can be jumped to."""
import itertools
from typing import Iterator, Optional, Sized

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from .sample_key import SampleKey


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(Sampler):
    """Endless passes through the dataset, for ``IterBasedTrainLoop``s.

    The global stream is pass 0, pass 1, ...; pass p is a permutation of the
    dataset drawn from ``torch.Generator`` seeded with ``seed + p`` (like
    ``DefaultSampler``'s epochs; mmengine's ``InfiniteSampler`` chains its
    permutations on one generator instead), or the dataset in order with
    ``shuffle=False``. Rank r of w takes stream positions r, r + w, r + 2w,
    ... Each index is yielded as a :class:`SampleKey` with its pass as the
    epoch, so a pair depends on (seed, pass, index) only (see
    ``ResumableSampler``).

    :meth:`set_start` (n) makes the next iteration begin at this rank's
    n-th index (computed, not drawn: ``ResumableIterBasedTrainLoop`` resumes
    at iteration i with n = i x batch size without loading the skipped
    batches).

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Shuffle each pass. Defaults to True.
        seed (int, optional): Same on all ranks; None: drawn on rank 0 and
            broadcast. Defaults to None.
    """

    def __init__(self,
                 dataset: Sized,
                 shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.size = len(dataset)
        self._start = 0

    def set_start(self, start: int) -> None:
        """Begin the next iteration at this rank's ``start``-th index."""
        if start < 0:
            raise ValueError(f'ResumableInfiniteSampler: start must be >= 0, '
                             f'got {start}.')
        self._start = start

    def _pass(self, number: int) -> list:
        if not self.shuffle:
            return list(range(self.size))
        generator = torch.Generator()
        generator.manual_seed(self.seed + number)
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[SampleKey]:
        position = self.rank + self._start * self.world_size
        number, indices = -1, []
        for position in itertools.count(position, self.world_size):
            if position // self.size != number:
                number = position // self.size
                indices = self._pass(number)
            yield SampleKey(indices[position % self.size], self.seed, number)

    def __len__(self) -> int:
        """The dataset's length (as ``InfiniteSampler``)."""
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """Nothing: the passes number themselves."""
