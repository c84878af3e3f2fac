"""tools/train.py, tools/test.py and the launch scripts, run as a user would.

Distributed runs use 2 CPU processes (gloo through cim_mm.compat). Each
training process also imports this module (see ``digest_config``) for
:class:`RankStateDigestHook`, which records what every rank ends with.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'
TOY_CONFIG = ROOT / 'tests' / 'data' / 'toy_config.py'
SCRIPTS = ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh']
TIMEOUT = 180


def state_digest(state_dict):
    """sha256 over the names and values of a state dict."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy()
                      .tobytes())
    return digest.hexdigest()


@HOOKS.register_module()
class RankStateDigestHook(Hook):
    """Writes ``state_digest_rank<r>.txt`` of this rank's model after training.
    """

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        Path(runner.work_dir, f'state_digest_rank{runner.rank}.txt'
             ).write_text(state_digest(model.state_dict()))


def checkpoint_digest(path):
    return state_digest(torch.load(path, weights_only=False)['state_dict'])


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run(command, **env):
    """Run ``command`` from the repo root; return its combined output."""
    full_env = dict(
        os.environ,
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).parent),
                          os.environ.get('PYTHONPATH')])),
        **env)
    result = subprocess.run(
        [str(c) for c in command], cwd=ROOT, env=full_env, timeout=TIMEOUT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, result.stdout[-5000:]
    return result.stdout


@pytest.fixture(scope='module')
def data_options(toy_class_images):
    """--cfg-options pointing every split of the toy config at real images."""
    root = toy_class_images
    return ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ]


@pytest.fixture(scope='module')
def digest_config(tmp_path_factory):
    """The toy config plus :class:`RankStateDigestHook`."""
    path = tmp_path_factory.mktemp('configs') / 'toy_digest.py'
    path.write_text(
        f'_base_ = [{str(TOY_CONFIG)!r}]\n'
        "custom_imports = dict(imports=['cim_mm', 'test_launchers'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='RankStateDigestHook')]\n")
    return path


def rank_digests(work_dir):
    return [(work_dir / f'state_digest_rank{rank}.txt').read_text()
            for rank in (0, 1)]


@pytest.fixture(scope='module')
def dist_run(digest_config, data_options, tmp_path_factory):
    """4 iterations on 2 CPU processes through tools/dist_train.sh."""
    work_dir = tmp_path_factory.mktemp('dist_work_dir')
    output = run(['bash', TOOLS / 'dist_train.sh', digest_config, 2,
                  '--work-dir', work_dir, *data_options],
                 PORT=str(free_port()))
    return SimpleNamespace(
        work_dir=work_dir, output=output, digests=rank_digests(work_dir))


@pytest.fixture(scope='module')
def dist_resume(dist_run, digest_config, data_options):
    """The same run resumed (--resume, auto) and extended to 6 iterations."""
    output = run(['bash', TOOLS / 'dist_train.sh', digest_config, 2,
                  '--work-dir', dist_run.work_dir, '--resume', *data_options,
                  'train_cfg.max_iters=6'],
                 PORT=str(free_port()))
    return SimpleNamespace(
        output=output, digests=rank_digests(dist_run.work_dir))


def test_dist_train_on_cpu_uses_gloo_and_saves_checkpoints(dist_run):
    assert "backend 'nccl' is replaced by 'gloo'" in dist_run.output
    assert (dist_run.work_dir / 'iter_2.pth').is_file()
    assert (dist_run.work_dir / 'iter_4.pth').is_file()


def test_dist_train_ranks_end_with_identical_weights(dist_run):
    rank0, rank1 = dist_run.digests
    assert rank0 == rank1
    assert rank0 == checkpoint_digest(dist_run.work_dir / 'iter_4.pth')


def test_dist_train_resume_continues_from_saved_iteration(dist_run,
                                                          dist_resume):
    assert 'resumed epoch: 0, iter: 4' in dist_resume.output
    assert 'Iter(train) [5/6]' in dist_resume.output
    assert 'Iter(train) [1/6]' not in dist_resume.output
    rank0, rank1 = dist_resume.digests
    assert rank0 == rank1
    assert rank0 == checkpoint_digest(dist_run.work_dir / 'iter_6.pth')


def test_train_single_process_applies_cfg_options_and_cpu_amp(
        data_options, tmp_path):
    output = run([
        sys.executable, TOOLS / 'train.py', TOY_CONFIG, '--work-dir',
        tmp_path, '--amp', *data_options, 'train_cfg.max_iters=2'
    ])
    assert (tmp_path / 'iter_2.pth').is_file()
    assert not (tmp_path / 'iter_4.pth').exists()
    if not torch.cuda.is_available():
        assert 'bf16 autocast on CPU' in output
        dumped = (tmp_path / 'toy_config.py').read_text()
        assert "type='CPUAmpOptimWrapper'" in dumped


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_amp_config_without_gpu_trains_in_fp32(data_options, tmp_path):
    output = run([
        sys.executable, TOOLS / 'train.py', TOY_CONFIG, '--work-dir',
        tmp_path, *data_options, 'train_cfg.max_iters=2',
        'optim_wrapper.type=AmpOptimWrapper'
    ])
    assert (tmp_path / 'iter_2.pth').is_file()
    assert 'replaced by OptimWrapper (fp32)' in output
    dumped = (tmp_path / 'toy_config.py').read_text()
    assert "type='OptimWrapper'" in dumped


def test_dist_test_evaluates_a_checkpoint(dist_run, data_options, tmp_path):
    metrics_file = tmp_path / 'metrics.json'
    run(['bash', TOOLS / 'dist_test.sh', TOY_CONFIG,
         dist_run.work_dir / 'iter_4.pth', 2, '--work-dir', tmp_path,
         '--out', metrics_file, '--out-item', 'metrics', *data_options],
        PORT=str(free_port()))
    metrics = json.loads(metrics_file.read_text())
    assert 0 <= metrics['accuracy/top1'] <= 100


@pytest.mark.parametrize('script', SCRIPTS)
def test_shell_script_is_executable_and_parses(script):
    assert os.access(TOOLS / script, os.X_OK)
    subprocess.run(['bash', '-n', TOOLS / script], check=True, timeout=10)


@pytest.fixture
def fake_srun(tmp_path):
    """A ``srun`` on PATH that prints its arguments, one per line."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    srun.chmod(0o755)
    return dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')


def srun_arguments(output):
    """Drop the ``set -x`` trace lines, keep what srun printed."""
    return [line for line in output.splitlines() if not line.startswith('+')]


@pytest.mark.parametrize('work_dir', [['my_work_dir'], []])
def test_slurm_train_passes_work_dir_launcher_and_options_to_srun(
        fake_srun, work_dir):
    output = run(['bash', TOOLS / 'slurm_train.sh', 'gpu', 'job', 'cfg.py',
                  *work_dir, '--amp'], GPUS='16', **fake_srun)
    args = srun_arguments(output)
    assert args[:2] == ['-p', 'gpu']
    assert '--ntasks=16' in args and '--job-name=job' in args
    train = args.index(str(TOOLS / 'train.py'))
    expected = ['cfg.py'] + [f'--work-dir={d}' for d in work_dir]
    assert args[train + 1:] == expected + ['--launcher=slurm', '--amp']


def test_slurm_test_passes_checkpoint_launcher_and_options_to_srun(fake_srun):
    output = run(['bash', TOOLS / 'slurm_test.sh', 'gpu', 'job', 'cfg.py',
                  'ckpt.pth', '--out', 'r.pkl'], **fake_srun)
    args = srun_arguments(output)
    test = args.index(str(TOOLS / 'test.py'))
    assert args[test + 1:] == [
        'cfg.py', 'ckpt.pth', '--launcher=slurm', '--out', 'r.pkl'
    ]
