"""StopOnSignalHook in one process: a signal delivered at a fixed iteration
(``os.kill`` of itself from a hook) stops training after that iteration with
one checkpoint; the handlers are restored afterwards."""
import os
import signal

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from cim_mm.engine.hooks import StopOnSignalHook, TrainingStopped


@HOOKS.register_module()
class SignalSelfHook(Hook):
    """Sends ``signum`` to this process after iteration ``at_iter``."""

    priority = 'NORMAL'

    def __init__(self, at_iter, signum):
        self.at_iter = at_iter
        self.signum = signum

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), self.signum)


def stop_cfg(toy_cfg, data_root, work_dir, at_iter, signum):
    return toy_cfg(
        data_root, work_dir, work_dir.name, **{
            'train_cfg.max_iters': 8,
            'default_hooks.stop_on_signal': dict(type='StopOnSignalHook'),
            'custom_hooks': [dict(type='SignalSelfHook', at_iter=at_iter,
                                  signum=int(signum))],
        })


@pytest.mark.parametrize('at_iter,signum', [(3, signal.SIGUSR1),
                                            (2, signal.SIGTERM)])
def test_signal_stops_after_the_iteration_with_one_checkpoint(
        toy_class_images, toy_cfg, tmp_path, at_iter, signum):
    before = signal.getsignal(signum)
    runner = Runner.from_cfg(
        stop_cfg(toy_cfg, toy_class_images, tmp_path, at_iter, signum))
    with pytest.raises(TrainingStopped) as stop:
        runner.train()
    assert stop.value.exit_code == 128 + signum
    assert stop.value.iteration == at_iter == runner.iter + 1
    path = tmp_path / f'iter_{at_iter}.pth'
    assert stop.value.checkpoint == str(path)
    assert (tmp_path / 'last_checkpoint').read_text() == str(path)
    meta = torch.load(path, weights_only=False)['meta']
    assert meta['iter'] == at_iter
    # iter_2.pth is the CheckpointHook's (interval 2): not saved twice.
    assert meta.get('stopped_by') == (None if at_iter == 2 else
                                      signal.Signals(signum).name)
    runner.call_hook('after_run')
    assert signal.getsignal(signum) == before


def test_the_signal_checkpoint_is_written_atomically(
        toy_class_images, toy_cfg, tmp_path, atomic_writes):
    runner = Runner.from_cfg(
        stop_cfg(toy_cfg, toy_class_images, tmp_path, 1, signal.SIGUSR1))
    with pytest.raises(TrainingStopped):
        runner.train()
    runner.call_hook('after_run')
    assert atomic_writes == ['iter_1.pth']
    assert torch.load(tmp_path / 'iter_1.pth',
                      weights_only=False)['meta']['iter'] == 1


@pytest.mark.parametrize('kwargs,message', [
    (dict(signals=['SIGNOPE']), "unknown signal 'SIGNOPE'"),
    (dict(signals=[]), 'at least one signal'),
    (dict(check_interval=0), 'check_interval must be a positive int'),
])
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StopOnSignalHook(**kwargs)


def test_outside_training_a_signal_does_what_it_did_before(
        toy_class_images, toy_cfg, tmp_path):
    received = []
    before = signal.signal(signal.SIGUSR1,
                           lambda signum, frame: received.append(signum))
    try:
        runner = Runner.from_cfg(stop_cfg(toy_cfg, toy_class_images,
                                          tmp_path, 99, signal.SIGUSR1))
        os.kill(os.getpid(), signal.SIGUSR1)  # built, not training
        assert received == [signal.SIGUSR1]
        runner.test()  # a test run is no training either
        os.kill(os.getpid(), signal.SIGUSR1)
        assert received == [signal.SIGUSR1] * 2
    finally:
        signal.signal(signal.SIGUSR1, before)
