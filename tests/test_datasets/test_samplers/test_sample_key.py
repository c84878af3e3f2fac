"""SampleKey: an int that names its draw; seeding from it."""
import pickle
import random

import numpy as np

from cim_mm.datasets import SampleKey
from cim_mm.datasets.samplers import seed_sample_rngs


def test_key_is_the_index_and_pickles_with_seed_and_epoch():
    key = SampleKey(7, seed=3, epoch=2)
    assert key == 7 and isinstance(key, int)
    assert [10, 11, 12, 13, 14, 15, 16, 17][key] == 17
    assert np.arange(10, 20)[key] == 17
    back = pickle.loads(pickle.dumps(key))
    assert (int(back), back.seed, back.epoch) == (7, 3, 2)
    assert 'epoch=2' in repr(back)


def _draws(key):
    seed_sample_rngs(key)
    return np.random.rand(3).tolist(), random.random()


def test_seeding_depends_on_seed_epoch_and_index_only():
    first = _draws(SampleKey(5, 0, 1))
    np.random.rand(100)  # whatever was drawn in between
    assert _draws(SampleKey(5, 0, 1)) == first
    for other in (SampleKey(6, 0, 1), SampleKey(5, 1, 1), SampleKey(5, 0, 2),
                  SampleKey(5, -1, 1)):
        assert _draws(other) != first
