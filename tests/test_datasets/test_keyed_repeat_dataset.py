"""KeyedRepeatDataset: each copy of a sample reaches the dataset under its
own key; its length counts every copy; the config form builds."""
import pytest

from cim_mm.datasets import KeyedRepeatDataset, SampleKey


class _Recorder:
    """A dataset of ``n`` samples that returns the index it was given."""

    metainfo = dict(classes=None)

    def __init__(self, n):
        self.n = n
        self.initialised = 0

    def full_init(self):
        self.initialised += 1

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        return idx

    def get_data_info(self, idx):
        return dict(index=idx)


def _key(k):
    return (int(k), k.seed, k.epoch) if isinstance(k, SampleKey) else k


def test_copies_are_keyed_draws_and_copy_0_is_the_plain_draw():
    data = KeyedRepeatDataset(_Recorder(3), times=2)
    assert len(data) == 6 and data.dataset.initialised == 1
    got = [_key(data[SampleKey(i, 7, epoch)]) for epoch in (0, 1)
           for i in range(6)]
    assert got == [(0, 7, 0), (1, 7, 0), (2, 7, 0),  # epoch 0, copy 0
                   (0, 7, 1), (1, 7, 1), (2, 7, 1),  # epoch 0, copy 1
                   (0, 7, 2), (1, 7, 2), (2, 7, 2),  # epoch 1, copy 0
                   (0, 7, 3), (1, 7, 3), (2, 7, 3)]  # epoch 1, copy 1
    assert [data[i] for i in range(6)] == [0, 1, 2, 0, 1, 2]  # plain ints
    assert data.get_data_info(4) == dict(index=1)
    with pytest.raises(IndexError, match='out of range for 6 samples'):
        data[6]


def test_times_must_be_a_positive_integer():
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match='times must be an integer'):
            KeyedRepeatDataset(_Recorder(2), times=bad)


def test_config_form_builds_the_wrapped_dataset(tmp_path):
    from mmpretrain.registry import DATASETS
    for name in ('a.png', 'b.png'):
        (tmp_path / name).write_bytes(b'')
    data = DATASETS.build(
        dict(type='KeyedRepeatDataset', times=3,
             dataset=dict(type='CustomDataset', data_root=str(tmp_path),
                          with_label=False, pipeline=[])))
    assert len(data) == 6
    assert data.get_data_info(5)['img_path'].endswith('b.png')
