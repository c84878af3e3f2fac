"""ResumableSampler and ResumableInfiniteSampler: keyed indices, start."""
import itertools

import pytest
import torch
from mmengine.dataset import DefaultSampler

from cim_mm.datasets import (ResumableInfiniteSampler, ResumableSampler,
                             SampleKey)


def _keys(indices):
    return [(int(k), k.seed, k.epoch) for k in indices]


def test_resumable_sampler_is_default_samplers_order_keyed():
    data = list(range(10))
    for epoch in (0, 3):
        ours = ResumableSampler(data, seed=5)
        theirs = DefaultSampler(data, seed=5)
        ours.set_epoch(epoch)
        theirs.set_epoch(epoch)
        keys = list(ours)
        assert all(isinstance(k, SampleKey) for k in keys)
        assert _keys(keys) == [(i, 5, epoch) for i in theirs]
        assert len(ours) == len(theirs) == 10


def test_resumable_sampler_start_skips_once_and_keeps_the_length():
    sampler = ResumableSampler(list(range(10)), seed=1)
    sampler.set_epoch(2)
    whole = _keys(sampler)
    sampler.set_start(4)
    assert _keys(sampler) == whole[4:]
    assert len(sampler) == 10
    assert _keys(sampler) == whole  # the next epoch starts at 0 again
    sampler.set_start(10)
    assert list(sampler) == []
    with pytest.raises(ValueError, match='start'):
        sampler.set_start(11)


def test_resumable_sampler_shards_as_default_sampler(monkeypatch):
    import mmengine.dataset.sampler as mmengine_sampler
    for rank in (0, 1):
        monkeypatch.setattr(mmengine_sampler, 'get_dist_info',
                            lambda rank=rank: (rank, 2))
        ours = ResumableSampler(list(range(7)), seed=0)
        theirs = DefaultSampler(list(range(7)), seed=0)
        ours.set_start(1)
        assert [int(k) for k in ours] == list(theirs)[1:]


def test_infinite_sampler_passes_are_seeded_permutations():
    sampler = ResumableInfiniteSampler(list(range(5)), seed=3)
    keys = list(itertools.islice(sampler, 15))
    for number in range(3):
        generator = torch.Generator().manual_seed(3 + number)
        expected = torch.randperm(5, generator=generator).tolist()
        assert _keys(keys[5 * number:5 * number + 5]) == [
            (i, 3, number) for i in expected]
    ordered = ResumableInfiniteSampler(list(range(5)), shuffle=False, seed=0)
    assert [int(k) for k in itertools.islice(ordered, 7)] == [
        0, 1, 2, 3, 4, 0, 1]


def test_infinite_sampler_start_and_ranks_cut_one_stream():
    data = list(range(7))
    stream = _keys(itertools.islice(ResumableInfiniteSampler(data, seed=2),
                                    40))
    resumed = ResumableInfiniteSampler(data, seed=2)
    resumed.set_start(9)
    assert _keys(itertools.islice(resumed, 12)) == stream[9:21]
    assert _keys(itertools.islice(resumed, 3)) == stream[9:12]  # each iter
    for rank in (0, 1):
        sharded = ResumableInfiniteSampler(data, seed=2)
        sharded.rank, sharded.world_size = rank, 2
        sharded.set_start(3)
        assert _keys(itertools.islice(sharded, 10)) == stream[6 + rank::2][:10]
    with pytest.raises(ValueError, match='start'):
        resumed.set_start(-1)
