"""The pairs depend on (seed, epoch, index) only: the same with 0 or 2
workers, across epochs of persistent workers, after a restart part-way and
when a bad image is replaced (max_refetch)."""
import os.path as osp
import shutil

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from cim_mm.datasets.transforms.loading import _PENDING_SKIPS

DEMO_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'cim_demo.py')


def _loader(data_root, workers, **sampler):
    """The demo's loader, its pairs built in the workers (pixels, maps)."""
    cfg = Config.fromfile(DEMO_CONFIG).train_dataloader
    cfg.dataset.data_root = data_root
    cfg.update(batch_size=3, num_workers=workers,
               persistent_workers=workers > 0,
               collate_fn=dict(type='pair_synthesis_collate'))
    cfg.sampler = dict(type='ResumableSampler', shuffle=True, **sampler)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Runner.build_dataloader(cfg, seed=0)


def _epochs(loader, epochs, start=0, batches=2):
    """The first ``batches`` batches of each epoch (the first from
    ``start``), as the loop asks for them."""
    out = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        loader.sampler.set_start(start if epoch == epochs[0] else 0)
        batches_of_epoch = iter(loader)
        out += [next(batches_of_epoch) for _ in range(batches)]
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x['inputs']) == len(y['inputs'])
        for u, v in zip(x['inputs'], y['inputs']):
            assert torch.equal(u, v)
        for s, t in zip(x['data_samples'], y['data_samples']):
            assert s.sample_idx == t.sample_idx
            for key in ('corr_maps', 'exemplar_corners', 'exemplar_flipped',
                        'exemplar_augmentation'):
                assert torch.equal(s.get(key), t.get(key)), key


def test_same_pairs_with_0_and_2_persistent_workers(demo_data_root):
    single = _epochs(_loader(demo_data_root, 0), epochs=[0, 1])
    workers = _loader(demo_data_root, 2)
    assert workers.persistent_workers
    # Epoch 1 is served by the same worker processes as epoch 0: the epoch
    # comes with the index, not from set_epoch on the workers' datasets.
    _assert_same(_epochs(workers, epochs=[0, 1]), single)
    # The pairs of epoch 1 are new ones, not epoch 0's again.
    assert not torch.equal(single[0]['inputs'][0], single[2]['inputs'][0])


def test_restart_part_way_serves_the_rest_of_the_epoch(demo_data_root):
    whole = _epochs(_loader(demo_data_root, 0), epochs=[1], batches=3)
    # A fresh loader (a restarted job) told to start at batch 1 of epoch 1.
    rest = _epochs(_loader(demo_data_root, 2), epochs=[1], start=3,
                   batches=2)
    _assert_same(rest, whole[1:])


def test_bad_image_replacements_are_deterministic(demo_data_root, tmp_path):
    root = tmp_path / 'with_bad'
    shutil.copytree(f'{demo_data_root}/train', root / 'train')
    for name in ('broken_a.png', 'broken_b.jpg', 'broken_c.png'):
        (root / 'train' / name).write_bytes(b'not an image')
    single = _epochs(_loader(str(root), 0), epochs=[0, 1], batches=9)
    skipped = [s.skipped_images for b in single for s in b['data_samples']]
    assert sum(len(s) for s in skipped) > 0  # some replaced in the batches
    _assert_same(_epochs(_loader(str(root), 2), epochs=[0, 1], batches=9),
                 single)
    _PENDING_SKIPS.clear()


def test_demo_held_out_pairs_do_not_depend_on_the_run_seed(demo_data_root):
    """configs/cim_demo.py's held-out pairs: the val sampler's own seed and
    keyed copies, so the same pairs under any run seed, another pair for
    each copy of a photo."""
    cfg = Config.fromfile(DEMO_CONFIG).val_dataloader
    cfg.dataset.dataset.data_root = demo_data_root
    cfg.dataset.times = 2
    cfg.num_workers = 0
    corners = []
    for run_seed in (0, None, 5):  # None: what diff_rank_seed passes
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            loader = Runner.build_dataloader(cfg, seed=run_seed)
        corners.append(torch.cat(
            [batch['pair_params']['exemplar_corners'] for batch in loader]))
    assert len(corners[0]) == 8  # 4 photos x 2 copies
    assert torch.equal(corners[0], corners[1])
    assert torch.equal(corners[0], corners[2])
    assert not torch.equal(corners[0][:4], corners[0][4:])
