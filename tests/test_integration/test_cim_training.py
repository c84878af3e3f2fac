"""End-to-end CIM training on real photos: resume, DDP on CPU, the demo."""
import copy
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

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
    # The target followed the online encoder, but only part of the way.
    k = next(k for k in trained if 'layers.0' in k and 'weight' in k)
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


def _cfg_options_args(options):
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


def test_dist_train_sh_two_cpu_processes(demo_data_root, tmp_path,
                                         tiny_demo_cfg_options):
    work_dir = tmp_path / 'ddp'
    # No PORT: torchrun --standalone binds a free port itself.
    env = {k: v for k, v in os.environ.items() if k != 'PORT'}
    env.update(PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='')
    cmd = ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), DEMO_CONFIG, '2',
           '--work-dir', str(work_dir)]
    cmd += _cfg_options_args(tiny_demo_cfg_options(demo_data_root, max_iters=2))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    state = _weights(str(work_dir / 'iter_2.pth'))
    assert any(k.startswith('target_backbone.') for k in state)


def test_demo_tool_trains_evaluates_and_draws(demo_data_root, tmp_path):
    work_dir = tmp_path / 'demo'
    cmd = [sys.executable, osp.join(REPO, 'tools', 'demo.py'),
           '--work-dir', str(work_dir), '--data-root', demo_data_root,
           '--iters', '3', '--cfg-options', 'train_dataloader.batch_size=2',
           'train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False']
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'held-out correlation-map IoU' in proc.stdout
    assert (work_dir / 'iter_3.pth').is_file()
    png = work_dir / 'correlation_maps.png'
    assert png.is_file() and png.stat().st_size > 10_000
