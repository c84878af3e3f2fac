"""KNNMonitorHook: k-NN accuracy of the online encoder during tiny CIM and
MAE runs, in scalars.json between the training log lines, kept across a
resume, without changing the training (weights and global RNG states)."""
import copy
import glob
import json
import os.path as osp
import random
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import ImgDataPreprocessor
from mmengine.runner import Runner

from cim_mm.engine.hooks import KNNMonitorHook
from cim_mm.evaluation.knn import (build_knn_loader, extract_features,
                                   knn_pipeline)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
MAE_MONITOR_CONFIG = osp.join(
    REPO, 'configs', 'knn_fashion_mnist',
    'mae_vit-4l-128d_96px_fashion-mnist_knn-monitor.py')


def knn_loader(root, workers=0):
    return dict(batch_size=4, num_workers=workers,
                dataset=dict(type='CustomDataset', data_root=root,
                             pipeline=knn_pipeline(32)))


def monitor(folders, interval=2, **kwargs):
    return dict(type='KNNMonitorHook', interval=interval,
                memory=knn_loader(folders[0]), query=knn_loader(folders[1]),
                **kwargs)


def rng_states():
    return (random.getstate(), np.random.get_state()[1].tolist(),
            torch.get_rng_state())


def same_rng_states(a, b):
    return a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def scalars(work_dir):
    """Records of every scalars.json under work_dir, oldest run first."""
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            records.append([json.loads(line) for line in f])
    return records


def demo_cfg(options, work_dir, name, hooks=()):
    """The 4-iteration demo run (2 layers), no validation, a training log
    line at iteration 3 only, checkpoints at 2 and 4."""
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(options)
    cfg.merge_from_dict({
        'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None,
        'default_hooks.logger.interval': 3
    })
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h.type != 'CorrelationMapVisualizationHook']
    cfg.custom_hooks += list(hooks)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    return cfg


def train(cfg, *extra_hooks):
    runner = Runner.from_cfg(cfg)
    for hook in extra_hooks:
        runner.register_hook(hook, priority='LOWEST')
    runner.train()
    return runner


def knn_hook(runner):
    return next(h for h in runner.hooks if isinstance(h, KNNMonitorHook))


@pytest.fixture(scope='module')
def monitored(demo_data_root, knn_folders, tiny_demo_cfg_options,
              tmp_path_factory):
    """The demo run with the monitor every 2 iterations: (runner, the
    global RNG states after training)."""
    work_dir = tmp_path_factory.mktemp('knn_monitored')
    cfg = demo_cfg(tiny_demo_cfg_options(demo_data_root), work_dir,
                   work_dir.name, [monitor(knn_folders)])
    runner = train(cfg)
    return runner, rng_states()


def test_logs_between_training_log_lines_and_leaves_training_unchanged(
        monitored, demo_data_root, tiny_demo_cfg_options, tmp_path):
    runner, states = monitored
    [records] = scalars(runner.work_dir)
    knn = [r for r in records if 'knn/top1' in r]
    assert [r['step'] for r in knn] == [2, 4]
    # iteration 2 has no training log line, its k-NN line is there
    assert not any('loss' in r for r in records if r['step'] == 2)
    assert any('loss' in r for r in records if r['step'] == 3)
    for record in knn:
        assert 0 <= record['knn/top1'] <= 100
        assert record['knn/top5'] == 100  # 3 classes
    hook = knn_hook(runner)
    assert [(h['step'], h['num_memory'], h['num_query'])
            for h in hook.history] == [(2, 12, 6), (4, 12, 6)]
    assert runner.message_hub.get_scalar('knn/top1').current() == \
        knn[-1]['knn/top1']
    assert runner.model.training and runner.model.backbone.training

    plain = train(demo_cfg(tiny_demo_cfg_options(demo_data_root),
                           tmp_path / 'plain', tmp_path.name + '_plain'))
    assert same_rng_states(rng_states(), states)
    weights = plain.model.state_dict()
    assert all(torch.equal(v, weights[k])
               for k, v in runner.model.state_dict().items())


def test_resume_continues_the_curve(monitored, demo_data_root, knn_folders,
                                    tiny_demo_cfg_options, tmp_path):
    """Resumed from the monitored run's iter_2.pth (as after a stop
    there): the history comes back from the checkpoint, the next
    evaluation is at 4, and the curve is the uninterrupted one."""
    runner = monitored[0]
    cfg = demo_cfg(tiny_demo_cfg_options(demo_data_root), tmp_path,
                   tmp_path.name, [monitor(knn_folders)])
    cfg.resume = True
    cfg.load_from = osp.join(runner.work_dir, 'iter_2.pth')
    resumed = train(cfg)

    def curve(history):
        return [(h['step'], h['top1'], h['top5']) for h in history]

    straight = curve(knn_hook(runner).history)
    assert curve(knn_hook(resumed).history) == straight
    saved = torch.load(tmp_path / 'iter_4.pth', map_location='cpu',
                       weights_only=False)['knn_monitor']['history']
    assert curve(saved) == straight
    # the resumed run's scalars.json has its own point only
    [records] = scalars(str(tmp_path))
    assert [r['step'] for r in records if 'knn/top1' in r] == [4]


def test_loaders_draw_nothing_and_leave_no_thread(knn_folders):
    """In dataset order, the global RNG states untouched, and, after the
    features of a loader with a worker, no thread of its left (a worker of
    the next loader forked while one ends can hang)."""
    before, threads = rng_states(), set(threading.enumerate())
    backbone = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1),
                                   torch.nn.Flatten())
    for workers in (0, 1):
        loader = build_knn_loader(knn_loader(knn_folders[0], workers))
        feats, labels = extract_features(backbone, loader,
                                         ImgDataPreprocessor(),
                                         progress=False)
        assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
        assert feats.shape == (12, 3)
        assert set(threading.enumerate()) == threads
    assert same_rng_states(rng_states(), before)


@pytest.mark.slow  # a second algorithm's run; its unmasked forward: test_knn
def test_mae_config_is_monitored_unmasked(knn_folders, tmp_path):
    """mmpretrain's MAE (configs/knn_fashion_mnist/mae_..._knn-monitor.py:
    MAEViT, masking 75% in training) trained an iteration on the memory
    images, evaluated before and after it."""
    root = osp.dirname(knn_folders[0])
    cfg = Config.fromfile(MAE_MONITOR_CONFIG)
    cfg.merge_from_dict({
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': root,
        'train_cfg.max_iters': 1,
        'default_hooks.checkpoint.interval': 1,
        'custom_hooks.0.interval': 1,
        'custom_hooks.0.at_start': True,
        'custom_hooks.0.memory.num_workers': 0,
        'custom_hooks.0.memory.dataset.data_root': root,
        'custom_hooks.0.query.num_workers': 0,
        'custom_hooks.0.query.dataset.data_root': root,
        'custom_hooks.0.query.dataset.data_prefix': 'val',
        'default_hooks.logger.interval': 1,
        'work_dir': str(tmp_path),
        'experiment_name': tmp_path.name,
    })
    cfg.optim_wrapper.type = 'OptimWrapper'  # fp32 on CPU, as tools/train.py
    cfg.optim_wrapper.pop('loss_scale')
    cfg.param_scheduler = []
    runner = train(cfg)
    [records] = scalars(str(tmp_path))
    assert [r['step'] for r in records if 'knn/top1' in r] == [0, 1]
    assert [h['num_query'] for h in knn_hook(runner).history] == [6, 6]
    assert runner.model.backbone.training


@pytest.mark.parametrize('by_epoch,steps', [(False, [4, 8, 12]),
                                             (True, [6, 12])])
def test_interval_counts_iterations_or_epochs(monkeypatch, by_epoch, steps):
    """4 epochs of 3 iterations, interval 4 (iterations) or 2 (epochs):
    the step logged is the number of iterations done."""
    hook = KNNMonitorHook(knn_loader('m'), knn_loader('q'), by_epoch=by_epoch,
                          interval=2 if by_epoch else 4)
    done = []
    monkeypatch.setattr(hook, 'evaluate',
                        lambda runner, step: done.append(step))
    runner = SimpleNamespace(iter=0, epoch=0)
    for epoch in range(4):
        runner.epoch = epoch
        for batch_idx in range(3):
            runner.iter = epoch * 3 + batch_idx  # as in after_train_iter
            hook.after_train_iter(runner, batch_idx)
        runner.iter = epoch * 3 + 3  # as in after_train_epoch
        hook.after_train_epoch(runner)
    assert done == steps


def test_bad_settings_are_refused(knn_folders, tmp_path):
    with pytest.raises(ValueError, match='interval must be a positive int'):
        KNNMonitorHook(knn_loader('x'), knn_loader('y'), interval=0)
    with pytest.raises(ValueError, match="query must be a data loader config "
                       "with a 'dataset'"):
        KNNMonitorHook(knn_loader('x'), query='data/val')
    with pytest.raises(ValueError, match="remove 'sampler'"):
        build_knn_loader(dict(knn_loader(knn_folders[0]), sampler=dict(
            type='DefaultSampler', shuffle=True)))
    with pytest.raises(ValueError, match='Found 0 files'):
        build_knn_loader(knn_loader(str(tmp_path)), name='memory')
    odd = tmp_path / 'rocket'
    odd.mkdir()
    import shutil
    shutil.copy(glob.glob(osp.join(knn_folders[1], 'coffee', '*.png'))[0],
                odd / '0.png')
    hook = KNNMonitorHook(knn_loader(knn_folders[0]),
                          knn_loader(str(tmp_path)))
    with pytest.raises(ValueError, match=r"has not: \['rocket'\]"):
        hook.before_train(type('R', (), {'iter': 0})())
