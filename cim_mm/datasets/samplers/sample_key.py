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


_MASK = (1 << 64) - 1


def _mix64(*values: int) -> int:
    """A 64-bit hash of ``values`` (each taken modulo 2**64): each is added
    to the state with the golden-ratio increment, then the state goes
    through the splitmix64 finaliser."""
    h = 0
    for value in values:
        h = (h ^ (value & _MASK)) + 0x9E3779B97F4A7C15 & _MASK
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK
        h ^= h >> 31
    return h


def seed_sample_rngs(key: SampleKey) -> None:
    """Seed ``random`` (with the 64-bit hash of ``(seed, epoch, index)``) and
    ``np.random`` (with its top 32 bits).

    A hash rather than numpy's ``SeedSequence`` with an array seed, which
    costs several times as much per sample (docs/reproducibility.md, Cost).
    """
    h = _mix64(key.seed, key.epoch, int(key))
    np.random.seed(h >> 32)
    random.seed(h)
