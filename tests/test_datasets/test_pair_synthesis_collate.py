"""pair_synthesis_collate: the pairs built in the DataLoader workers by the
same function as in CIMDataPreprocessor."""
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import MODELS, TRANSFORMS
from torch.utils.data import DataLoader, Dataset

import cim_mm  # noqa: F401
from cim_mm.datasets import pair_synthesis_collate

PREPROCESSOR = dict(type='CIMDataPreprocessor', mean=[0, 0, 0],
                    std=[1, 1, 1], to_rgb=False)
DRAW = dict(type='DrawCorrelationalPair', context_size=96, exemplar_size=48,
            search_size=128, context_augmentation={})


def packed(draw, count, transform=DRAW):
    """``count`` drawn pairs (three photos in turn, seeded), packed."""
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    return [pack(dict(s)) for s in draw(transform, count)]


def test_worker_pairs_equal_device_pairs_and_pass_the_preprocessor(draw):
    samples = packed(draw, 6)
    preprocessor = MODELS.build(PREPROCESSOR)
    on_device = preprocessor(default_collate(samples), True)
    collated = pair_synthesis_collate(samples)
    assert 'pair_params' not in collated
    assert [x.dtype for x in collated['inputs']] == [torch.uint8] * 7
    assert collated['inputs'][0].shape == (6, 3, 96, 96)
    assert collated['inputs'][1].shape == (6, 3, 48, 48)
    in_workers = preprocessor(collated, True)
    for a, b in zip(on_device['data_samples'], in_workers['data_samples']):
        assert torch.equal(a.corr_maps, b.corr_maps)
        for key in ('exemplar_corners', 'exemplar_flipped',
                    'exemplar_augmentation', 'context_augmentation'):
            assert torch.equal(a.get(key), b.get(key)), key
    for a, b in zip(on_device['inputs'], in_workers['inputs']):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= 1  # a float rounding of .5 at most


def test_thread_count_restored_and_other_batches_only_collated(draw):
    threads = torch.get_num_threads()
    pairs = pair_synthesis_collate(packed(draw, 2))
    assert torch.get_num_threads() == threads
    assert len(pairs['inputs']) == 7
    plain = [dict(inputs=torch.arange(3), label=1)] * 2
    assert torch.equal(pair_synthesis_collate(plain)['inputs'],
                       default_collate(plain)['inputs'])


class KeyedPairs(Dataset):
    """Three photos in turn, each sample's draws seeded by its index."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def test_batches_are_bit_identical_for_any_number_of_workers(draw):
    dataset = KeyedPairs(packed(draw, 8))

    def batches(num_workers):
        loader = DataLoader(dataset, batch_size=4, num_workers=num_workers,
                            collate_fn=pair_synthesis_collate)
        return list(loader)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the main process's many threads
    try:
        main, workers = batches(0), batches(2)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(main, workers):
        for x, y in zip(a['inputs'], b['inputs']):
            assert torch.equal(x, y)
        for s, t in zip(a['data_samples'], b['data_samples']):
            assert torch.equal(s.corr_maps, t.corr_maps)
    assert not torch.equal(main[0]['inputs'][1], main[1]['inputs'][1])
