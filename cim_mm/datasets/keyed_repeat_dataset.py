"""A dataset served several times over, each time with other keyed draws."""
import copy
from typing import Union

from mmpretrain.registry import DATASETS

from .samplers.sample_key import SampleKey


@DATASETS.register_module()
class KeyedRepeatDataset:
    """``dataset`` ``times`` times over, copy r of a sample drawn under its
    own key: a held-out set of several pairs per image, fixed by the keys.

    Index ``r * len(dataset) + i`` is sample ``i``. Given as a
    :class:`SampleKey` ``(index, seed, epoch)`` (``ResumableSampler``), it
    reaches ``dataset`` as ``SampleKey(i, seed, epoch * times + r)``, so
    ``LoadCheckedImage`` seeds another draw for each copy, and copy 0 in
    epoch 0 is the draw the unwrapped dataset gives under the same sampler.
    A plain int index reaches it as ``i`` (the pipeline then draws from the
    RNGs as they are). Unlike mmengine's ``RepeatDataset``, which passes a
    plain index on (every copy the same key), and so loses the key.

    Metrics that collect ``len(dataset)`` results (mmengine's ``ValLoop``)
    count every copy: the wrapper's length is ``times * len(dataset)``.

    Args:
        dataset (dict | Dataset): The dataset or its config.
        times (int): Copies (>= 1).
        lazy_init (bool): Leave ``full_init`` of the dataset for later.
            Defaults to False.
    """

    def __init__(self, dataset: Union[dict, object], times: int,
                 lazy_init: bool = False) -> None:
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f'KeyedRepeatDataset: times must be an integer '
                             f'>= 1 (copies of each sample), got {times!r}.')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.times = times
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information (a copy)."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Fully initialise the wrapped dataset."""
        if not self._fully_initialized:
            self.dataset.full_init()
            self._fully_initialized = True

    def __len__(self) -> int:
        return self.times * len(self.dataset)

    def _locate(self, idx: int):
        """``(copy, index in the dataset)`` of wrapper index ``idx``."""
        if not 0 <= int(idx) < len(self):
            raise IndexError(f'KeyedRepeatDataset: index {int(idx)} out of '
                             f'range for {len(self)} samples ({self.times} x '
                             f'{len(self.dataset)}).')
        return divmod(int(idx), len(self.dataset))

    def get_data_info(self, idx: int) -> dict:
        """The data information of the sample behind ``idx``."""
        return self.dataset.get_data_info(self._locate(idx)[1])

    def __getitem__(self, idx: int):
        repeat, index = self._locate(idx)
        if isinstance(idx, SampleKey):
            index = SampleKey(index, idx.seed, idx.epoch * self.times + repeat)
        return self.dataset[index]

    def __repr__(self) -> str:
        return (f'KeyedRepeatDataset(times={self.times}, '
                f'dataset={type(self.dataset).__name__} of '
                f'{len(self.dataset)})')
