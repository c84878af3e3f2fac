"""A run stopped by a signal, as a preempted job is: tools/train.py with
DataLoader workers that the signal also reached, and a 2-process
tools/dist_train.sh whose torchrun gets SIGTERM mid-epoch.

The signal is sent from inside the run at a fixed iteration by
:class:`SendSignalHook` (no timed kill from outside). Each process imports
this module (``custom_imports``) for that hook.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from test_launchers import (RankStateDigestHook, checkpoint_digest,  # noqa
                            rank_digests)

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'
TOY_CONFIG = ROOT / 'tests' / 'data' / 'toy_config.py'
TIMEOUT = 180
TORCHRUN_GRACE_S = 30


@HOOKS.register_module()
class SendSignalHook(Hook):
    """Rank 0 sends ``signal_name`` after iteration ``at_iter`` to its process
    group (``'group'``: itself and its DataLoader workers) or to its parent
    (``'parent'``: torchrun), and writes ``signal_sent.json`` (time, pids of
    its worker processes) to the work dir first."""

    priority = 'NORMAL'  # before StopOnSignalHook of the same iteration

    def __init__(self, at_iter, target, signal_name='SIGTERM'):
        self.at_iter = at_iter
        self.target = target
        self.signal = getattr(signal, signal_name)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 != self.at_iter or runner.rank != 0:
            return
        import multiprocessing
        workers = [p.pid for p in multiprocessing.active_children()]
        Path(runner.work_dir, 'signal_sent.json').write_text(
            json.dumps(dict(time=time.time(), workers=workers)))
        if self.target == 'group':
            os.killpg(os.getpgid(0), self.signal)
        else:
            os.kill(os.getppid(), self.signal)



@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """30 small photos in 3 class folders: 15 iterations per epoch at
    batch 2 (8 per rank on 2 ranks), so a signal lands mid-epoch."""
    import skimage.data
    from PIL import Image
    root = tmp_path_factory.mktemp('preemption_images')
    for name in ('astronaut', 'chelsea', 'coffee'):
        image = Image.fromarray(getattr(skimage.data, name)()).resize((48, 48))
        (root / name).mkdir()
        for i in range(10):
            image.rotate(i * 7).save(root / name / f'{i}.png')
    return root


def stop_config(tmp_path, at_iter, target, num_workers):
    """The toy config as an epoch-based run (3 epochs, a checkpoint per
    epoch) with StopOnSignalHook and SendSignalHook."""
    path = tmp_path / f'stop_{target}.py'
    persistent = num_workers > 0
    path.write_text(
        f'_base_ = [{str(TOY_CONFIG)!r}]\n'
        "custom_imports = dict(imports=['cim_mm', 'test_preemption'], "
        'allow_failed_imports=False)\n'
        'train_cfg = dict(_delete_=True, type="EpochBasedTrainLoop", '
        'max_epochs=3, val_interval=100)\n'
        'param_scheduler = []\n'
        f'train_dataloader = dict(num_workers={num_workers}, '
        f'persistent_workers={persistent}, '
        'sampler=dict(type="DefaultSampler", shuffle=True))\n'
        'default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1, '
        'max_keep_ckpts=3), '
        'stop_on_signal=dict(type="StopOnSignalHook", check_interval=2))\n'
        'log_processor = dict(by_epoch=True)\n'
        "custom_hooks = [dict(type='RankStateDigestHook'), "
        f"dict(type='SendSignalHook', at_iter={at_iter}, "
        f"target={target!r})]\n")
    return path


def launch(command, images, *options, **popen):
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).parent),
                          os.environ.get('PYTHONPATH')])))
    env.pop('PORT', None)
    options = ['--no-validate', '--cfg-options',
               f'train_dataloader.dataset.data_root={images}', *options]
    process = subprocess.Popen(
        [str(c) for c in command + options], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        **popen)
    output, _ = process.communicate(timeout=TIMEOUT)
    return process, output, time.time()


def live_members(group):
    """Processes of process group ``group`` that are alive (not zombies)."""
    members = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            stat = Path(f'/proc/{pid}/stat').read_text()
        except OSError:
            continue
        state, _, pgrp = stat.rsplit(')', 1)[1].split()[:3]
        if int(pgrp) == group and state != 'Z':
            members.append(int(pid))
    return members


def saved_meta(path):
    return torch.load(path, weights_only=False)['meta']


@pytest.mark.slow
def test_signal_to_the_process_group_stops_with_a_checkpoint_and_no_orphans(
        images, tmp_path):
    work_dir = tmp_path / 'work_dir'
    config = stop_config(tmp_path, at_iter=4, target='group', num_workers=2)
    process, output, _ = launch(
        [sys.executable, TOOLS / 'train.py', config, '--work-dir', work_dir],
        images, start_new_session=True)
    assert process.returncode == 128 + signal.SIGTERM, output[-3000:]
    sent = json.loads((work_dir / 'signal_sent.json').read_text())
    assert len(sent['workers']) == 2
    # The workers got the signal too, yet none is left behind.
    assert live_members(process.pid) == []
    # One process: it stops after the iteration it was in.
    assert 'Training stopped by SIGTERM after iteration 4' in output
    meta = saved_meta(work_dir / 'iter_4.pth')
    assert (meta['iter'], meta['epoch'], meta['stopped_by']) == (4, 0,
                                                                 'SIGTERM')
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / 'iter_4.pth')

    process, output, _ = launch(
        [sys.executable, TOOLS / 'train.py', config, '--work-dir', work_dir,
         '--resume'], images, 'train_cfg.max_epochs=1',
        start_new_session=True)
    assert process.returncode == 0, output[-3000:]
    assert 'resumed epoch: 0, iter: 4' in output
    # The epoch restarts: 15 more iterations, then epoch_1.pth.
    assert saved_meta(work_dir / 'epoch_1.pth')['iter'] == 19


@pytest.mark.slow
def test_dist_train_sent_sigterm_mid_epoch_saves_and_resumes(images,
                                                             tmp_path):
    work_dir = tmp_path / 'work_dir'
    # torchrun forwards SIGTERM to each rank's process group: its DataLoader
    # worker gets it too, and the ranks fetch another batch before the stop.
    config = stop_config(tmp_path, at_iter=3, target='parent', num_workers=1)
    process, output, ended = launch(
        ['bash', TOOLS / 'dist_train.sh', config, 2, '--work-dir', work_dir],
        images)
    sent = json.loads((work_dir / 'signal_sent.json').read_text())
    # torchrun forwards SIGTERM; the ranks agree every 2 iterations, stop
    # after the same one and exit by themselves before torchrun's SIGKILL.
    assert ended - sent['time'] < TORCHRUN_GRACE_S, output[-3000:]
    assert 'SIGKILL' not in output
    # torchrun's own status after a signal: 1 (it re-raises the signal).
    assert process.returncode == 1
    assert 'SignalException' in output
    [stop] = re.findall(r'Training stopped by SIGTERM after iteration (\d+)',
                        output)
    stop = int(stop)
    assert stop > 3 and stop % 2 == 0  # agreed at a check, after the signal
    meta = saved_meta(work_dir / f'iter_{stop}.pth')
    assert (meta['iter'], meta['epoch']) == (stop, 0)
    rank0, rank1 = rank_digests(work_dir)
    assert rank0 == rank1 == checkpoint_digest(work_dir / f'iter_{stop}.pth')

    process, output, _ = launch(
        ['bash', TOOLS / 'dist_train.sh', config, 2, '--work-dir', work_dir,
         '--resume'], images, 'train_cfg.max_epochs=1')
    assert process.returncode == 0, output[-3000:]
    assert f'resumed epoch: 0, iter: {stop}' in output
    # The epoch restarts: its 8 iterations per rank again.
    assert saved_meta(work_dir / 'epoch_1.pth')['iter'] == stop + 8


@pytest.fixture
def fake_slurm(tmp_path):
    """``srun``, ``scancel`` and ``scontrol`` on PATH that record their
    arguments. The fake srun plays a training step and Slurm's time limit:
    it sends SIGUSR1 to the batch script, then ends with ``$FAKE_STATUS``
    once ``scancel --signal=USR1`` has passed the signal on to it."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    scripts = dict(
        srun='printf "%s\\n" "$@" > "$LOG/srun"\n'
        'echo $$ > "$LOG/srun_pid"\n'
        'trap \'exit "$FAKE_STATUS"\' USR1\n'
        'kill -USR1 "$PPID"\n'
        'while true; do sleep 0.1; done\n',
        scancel='printf "%s\\n" "$@" >> "$LOG/scancel"\n'
        'kill -USR1 "$(cat "$LOG/srun_pid")"\n',
        scontrol='printf "%s\\n" "$@" >> "$LOG/scontrol"\n')
    for name, body in scripts.items():
        (bin_dir / name).write_text('#!/usr/bin/env bash\n' + body)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / 'log'
    log.mkdir()
    return log, dict(os.environ, PATH=f'{bin_dir}{os.pathsep}'
                     f'{os.environ["PATH"]}', LOG=str(log),
                     SLURM_JOB_ID='4242', SLURM_SUBMIT_DIR=str(ROOT))


@pytest.mark.parametrize('status,requeued', [(138, True), (0, False),
                                             (1, False)])
def test_sbatch_script_passes_the_warning_on_and_requeues_after_a_stop(
        fake_slurm, status, requeued):
    log, env = fake_slurm
    result = subprocess.run(
        ['bash', TOOLS / 'sbatch_train.sh', 'cfg.py', 'my_work_dir',
         '--amp'], env=dict(env, FAKE_STATUS=str(status)), cwd='/',
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=60)
    assert result.returncode == status, result.stdout
    args = (log / 'srun').read_text().splitlines()
    train = args.index(str(TOOLS / 'train.py'))
    assert args[train + 1:] == ['cfg.py', '--work-dir=my_work_dir',
                                '--launcher=slurm', '--resume', '--amp']
    assert (log / 'scancel').read_text().split() == ['--signal=USR1', '4242']
    assert (log / 'scontrol').exists() == requeued
    if requeued:
        assert (log / 'scontrol').read_text().split() == ['requeue', '4242']


def test_sbatch_script_declares_the_signal_and_requeue():
    text = (TOOLS / 'sbatch_train.sh').read_text()
    assert '#SBATCH --signal=B:USR1@300\n' in text
    assert '#SBATCH --requeue\n' in text
    assert '#SBATCH --open-mode=append\n' in text


def test_dist_train_has_torchrun_forward_sigusr1(tmp_path):
    # torchrun (2.14) forwards only SIGTERM, SIGINT, SIGHUP and SIGQUIT
    # unless told; SIGUSR1 would kill it and leave the ranks running.
    python = tmp_path / 'python'
    python.write_text('#!/usr/bin/env bash\n'
                      'echo "$PET_SIGNALS_TO_HANDLE"\n'
                      'echo "$TORCHELASTIC_SIGNALS_TO_HANDLE"\n')
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.endswith('SIGNALS_TO_HANDLE')}
    output = subprocess.run(
        ['bash', TOOLS / 'dist_train.sh', 'cfg.py', '2'],
        env=dict(env, PYTHON=str(python)), capture_output=True, text=True,
        check=True, timeout=30).stdout.split()
    assert output == ['SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1'] * 2
