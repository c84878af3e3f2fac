"""A dataset index that names its draw: (seed, epoch, index).

The samplers of this package yield :class:`SampleKey` objects instead of
plain ints. A key is an ``int`` (the dataset index, so every dataset accepts
it) that also carries the sampler's seed and the epoch (or, for an infinite
sampler, the pass through the data). It travels to the DataLoader worker
with the index, so a persistent worker's dataset copy, which never sees
``set_epoch``, still knows the epoch. ``LoadCheckedImage`` seeds Python's
``random`` and numpy's global RNG from it (:func:`seed_sample_rngs`) before
anything of the sample is drawn.
"""
import random

import numpy as np


class SampleKey(int):
    """The dataset index ``index``, drawn with ``seed`` in ``epoch``."""

    def __new__(cls, index: int, seed: int, epoch: int) -> 'SampleKey':
        key = super().__new__(cls, index)
        key.seed = int(seed)
        key.epoch = int(epoch)
        return key

    def __reduce__(self):
        return SampleKey, (int(self), self.seed, self.epoch)

    def __repr__(self) -> str:
        return (f'SampleKey(index={int(self)}, seed={self.seed}, '
                f'epoch={self.epoch})')


def seed_sample_rngs(key: SampleKey) -> None:
    """Seed ``random`` and ``np.random`` from ``(seed, epoch, index)``.

    The three numbers are mixed by numpy's ``SeedSequence`` (negative seeds
    taken modulo 2**64), so nearby keys give unrelated streams.
    """
    entropy = [int(key.seed) % 2**64, key.epoch, int(key)]
    state = np.random.SeedSequence(entropy).generate_state(4)
    np.random.seed(state)
    random.seed(int.from_bytes(state.tobytes(), 'little'))
