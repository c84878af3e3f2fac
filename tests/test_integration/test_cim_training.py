"""End-to-end CIM training on real photos: resume, the demo. (CIM with DDP
on 2 CPU processes: tests/test_tools/test_launchers.py.)"""
import copy
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from cim_mm.checkpoint.comparison import checkpoint_leaves, same_leaf

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')


def _weights(ckpt_path):
    state = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    return state['state_dict']


def test_training_moves_online_and_target_and_logs_momentum(tiny_demo_cfg):
    runner = Runner.from_cfg(tiny_demo_cfg)
    model = runner.model
    online0 = {}

    class Snapshot(Hook):  # the weights after init_weights, before step 1

        def before_train(self, runner):
            online0.update({k: v.clone()
                            for k, v in model.backbone.state_dict().items()})

    runner.register_hook(Snapshot())
    runner.train()
    online = model.backbone.state_dict()
    target = model.target_backbone.state_dict()
    trained = [k for k in online if not torch.equal(online[k], online0[k])]
    assert any('layers.0' in k for k in trained)
    assert not any('patch_embed' in k for k in trained)  # frozen
    # The target followed the online encoder, but only part of the way (a
    # projection: the first warm-up steps move a LayerNorm weight of 1.0 by
    # less than the target's lerp can represent, and it stays at 1.0).
    k = next(k for k in trained if 'layers.0.attn.qkv.weight' in k)
    assert not torch.equal(target[k], online0[k])
    assert not torch.equal(target[k], online[k])
    momentum = runner.message_hub.get_scalar('train/target_momentum')
    assert 0.99 <= momentum.current() < 1.0


class Interrupt(Hook):
    """Stops training after ``at_iter`` iterations (and their checkpoint),
    as a killed job would."""

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at_iter:
            raise KeyboardInterrupt


def test_resume_gives_bit_identical_online_and_target_weights(
        tiny_demo_cfg, tmp_path):
    # Each Runner its own experiment name: same-second Runners would
    # otherwise share their logger, message hub and visualizer.
    straight = copy.deepcopy(tiny_demo_cfg)
    straight.work_dir = str(tmp_path / 'straight')
    straight.experiment_name = f'{tmp_path.name}_straight'
    Runner.from_cfg(straight).train()

    first = copy.deepcopy(tiny_demo_cfg)
    first.work_dir = str(tmp_path / 'resumed')
    first.experiment_name = f'{tmp_path.name}_interrupted'
    interrupted = Runner.from_cfg(first)
    interrupted.register_hook(Interrupt(at_iter=2), priority='LOWEST')
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    resumed = copy.deepcopy(tiny_demo_cfg)
    resumed.work_dir = str(tmp_path / 'resumed')
    resumed.experiment_name = f'{tmp_path.name}_resumed'
    resumed.resume = True
    resumed.load_from = osp.join(resumed.work_dir, 'iter_2.pth')
    Runner.from_cfg(resumed).train()

    a = _weights(osp.join(straight.work_dir, 'iter_4.pth'))
    b = _weights(osp.join(resumed.work_dir, 'iter_4.pth'))
    assert a.keys() == b.keys()
    assert any(k.startswith('target_backbone.') for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_demo_tool_trains_evaluates_and_draws(demo_data_root, tmp_path):
    work_dir = tmp_path / 'demo'
    cmd = [sys.executable, osp.join(REPO, 'tools', 'demo.py'),
           '--work-dir', str(work_dir), '--data-root', demo_data_root,
           '--iters', '3', '--cfg-options', 'train_dataloader.batch_size=2',
           'train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False',
           'val_dataloader.dataset.times=2']
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # 2 keyed draws of each of the 4 held-out photos, 6 exemplars each
    assert '[8 pairs of 4 photos, 48 maps]' in proc.stdout
    assert (work_dir / 'iter_3.pth').is_file()
    png = work_dir / 'correlation_maps.png'
    assert png.is_file() and png.stat().st_size > 10_000
    # the checkpoint scored again, and on 2 other draws of the held-out pairs
    score = [sys.executable, osp.join(REPO, 'tools', 'demo.py'),
             '--work-dir', str(tmp_path / 'score'), '--data-root',
             demo_data_root, '--checkpoint', str(work_dir / 'iter_3.pth'),
             '--redraws', '2', '--cfg-options',
             'val_dataloader.dataset.times=2']
    again = subprocess.run(score, cwd=REPO, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    first = [line for line in proc.stdout.splitlines()
             if line.startswith('held-out correlation-map IoU')]
    assert first and first[0] in again.stdout  # the same pairs, same model
    assert 'held-out draw 2:' in again.stdout
    assert '2 other draws of the held-out pairs: IoU mean' in again.stdout
    assert not (tmp_path / 'score' / 'iter_3.pth').exists()  # no training


EPOCH_CONFIG = '''
_base_ = [{demo!r}]
model = dict(backbone=dict(arch=dict(num_layers=2)))
# 8 images, batch 2: 4 iterations an epoch, 2 epochs.
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(_delete_=True, type='ResumableSampler', shuffle=True),
    dataset=dict(data_root={root!r}, indices=8))
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop',
                 max_epochs=2)
val_cfg = val_dataloader = val_evaluator = None
test_cfg = test_dataloader = test_evaluator = None
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', T_max=6, eta_min=1e-5, by_epoch=False,
         begin=2, end=8),
]
# Mid-epoch checkpoints after iterations 3 (epoch 0) and 6 (epoch 1).
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=3, max_keep_ckpts=5))
'''


@pytest.fixture(scope='module')
def train_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'cim_train_tool', osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kill_and_resume_tool():
    """tools/analysis_tools/kill_and_resume.py as a module (its KNN_MONITOR
    config lines: the k-NN monitor every 2 iterations, so evaluations
    before, between and after the checkpoints at 3 and 6)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'cim_kill_and_resume_tool',
        osp.join(REPO, 'tools', 'analysis_tools', 'kill_and_resume.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize('knn_monitor', [False, True],
                         ids=['plain', 'knn-monitor'])
def test_mid_epoch_resume_with_workers_is_bit_identical(
        train_tool, demo_data_root, knn_folders, knn_monitor, tmp_path):
    """Also with KNNMonitorHook on: the training is the same, and the k-NN
    curve of a resumed run is the uninterrupted run's."""
    config = tmp_path / 'epochs.py'
    text = EPOCH_CONFIG.format(demo=DEMO_CONFIG, root=demo_data_root)
    if knn_monitor:
        from cim_mm.evaluation.knn import knn_pipeline
        text += kill_and_resume_tool().KNN_MONITOR.format(
            train=knn_folders[0], val=knn_folders[1],
            pipeline=knn_pipeline(32))
    config.write_text(text)

    def train(name, resume=None, *options):
        args = [str(config), '--work-dir', str(tmp_path / name)]
        if resume:
            args += ['--resume', str(tmp_path / 'straight' / resume)]
        train_tool.main(args + [
            '--cfg-options', f'experiment_name={tmp_path.name}_{name}',
            *options
        ])
        return torch.load(tmp_path / name / 'iter_8.pth', map_location='cpu',
                          weights_only=False)

    straight = train('straight')
    resumed = {
        # epoch 0 at batch 3 of 4, then all of epoch 1: the same workers
        'at_3': train('at_3', 'iter_3.pth'),
        # epoch 1 at batch 2 of 4, with one worker instead of two
        'at_6': train('at_6', 'iter_6.pth', 'train_dataloader.num_workers=1'),
    }
    for name, ckpt in resumed.items():
        assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 8)
        for part in ('state_dict', 'optimizer', 'param_schedulers'):
            a, b = dict(checkpoint_leaves(straight[part])), dict(checkpoint_leaves(ckpt[part]))
            assert a.keys() == b.keys(), (name, part)
            assert any(isinstance(v, torch.Tensor) for v in a.values()) or \
                part == 'param_schedulers'
            differ = [k for k in a if not same_leaf(a[k], b[k])]
            assert not differ, (name, part, differ[:5])
        # The losses of all 8 iterations, the resumed ones recomputed.
        losses = [c['message_hub']['log_scalars']['train/loss'].data[0]
                  for c in (straight, ckpt)]
        assert len(losses[0]) == 8 and (losses[0] == losses[1]).all(), name
        if knn_monitor:
            curves = [[(h['step'], h['top1'], h['top5'])
                       for h in c['knn_monitor']['history']]
                      for c in (straight, ckpt)]
            assert [s for s, _, _ in curves[0]] == [2, 4, 6, 8], curves[0]
            assert curves[0] == curves[1], name


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_is_bit_identical(
        demo_data_root, tmp_path):
    """The preempted job's path: SIGTERM (to the training process and its
    two persistent workers, sent from inside the run after iteration 5,
    epoch 1 at batch 1 of 4), StopOnSignalHook saves iter_5.pth and
    tools/train.py exits 143; ``--resume`` (the newest checkpoint, found by
    itself) continues mid-epoch and ends with the uninterrupted run's
    tensors, every one."""
    config = tmp_path / 'epochs.py'
    config.write_text(
        EPOCH_CONFIG.format(demo=DEMO_CONFIG, root=demo_data_root) +
        "custom_imports = dict(imports=['cim_mm', 'test_preemption'], "
        'allow_failed_imports=False)\n'
        'default_hooks.update(stop_on_signal=dict(type="StopOnSignalHook", '
        'check_interval=1))\n')
    straight_dir = tmp_path / 'straight'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [osp.join(REPO, 'tests', 'test_tools'),
                      os.environ.get('PYTHONPATH')])))
    # All three runs in fresh processes: the same torch thread count (CPU
    # kernels' rounding depends on it), whatever earlier tests left here.
    reference = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config),
         '--work-dir', str(straight_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    straight = torch.load(straight_dir / 'iter_8.pth', map_location='cpu',
                          weights_only=False)

    stopped_dir = tmp_path / 'stopped'
    signalled = tmp_path / 'signalled.py'
    signalled.write_text(
        f'_base_ = [{str(config)!r}]\n'
        'custom_hooks = [*_base_.custom_hooks, dict(type="SendSignalHook", '
        'at_iter=5, target="group")]\n')
    first = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(signalled),
         '--work-dir', str(stopped_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        start_new_session=True)  # its own process group: no signal escapes
    assert first.returncode == 143, first.stdout[-2000:] + first.stderr[-2000:]
    stop = torch.load(stopped_dir / 'iter_5.pth', map_location='cpu',
                      weights_only=False)
    assert (stop['meta']['epoch'], stop['meta']['iter']) == (1, 5)
    assert stop['meta']['stopped_by'] == 'SIGTERM'
    assert not (stopped_dir / 'iter_8.pth').exists()

    second = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config),
         '--work-dir', str(stopped_dir), '--resume'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, (second.stdout[-2000:] +
                                    second.stderr[-2000:])
    log = second.stdout + second.stderr
    # It continued from the stop (a run from scratch would end the same).
    assert re.search(r'resumed .*iter_5\.pth', log, re.I), log[-3000:]
    assert 'resumed epoch: 1, iter: 5' in log, log[-3000:]
    trained = re.findall(r'Iter\(train\) \[(\d+)/8\]', log)
    assert trained == ['6', '7', '8'], trained
    resumed = torch.load(stopped_dir / 'iter_8.pth', map_location='cpu',
                         weights_only=False)
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        a, b = dict(checkpoint_leaves(straight[part])), dict(checkpoint_leaves(resumed[part]))
        assert a.keys() == b.keys(), part
        differ = [k for k in a if not same_leaf(a[k], b[k])]
        assert not differ, (part, differ[:5])
