import logging
import math

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from cim_mm.checkpoint import read_checkpoint
from cim_mm.engine.hooks import NonFiniteGuardHook, NonFiniteTrainingError

pytestmark = pytest.mark.usefixtures('one_torch_thread')


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


class ToyData(Dataset):
    """Batches of 2 in order: the inputs of iteration ``i`` (1-based) are
    NaN when ``i`` is in ``nan_iters``."""

    def __init__(self, nan_iters=()):
        self.nan_iters = set(nan_iters)

    def __len__(self):
        return 64

    def __getitem__(self, index):
        value = math.nan if index // 2 + 1 in self.nan_iters else 0.1 * index
        return dict(inputs=torch.full((2, ), value))


def _runner(tmp_path, nan_iters, max_iters, name='run', checkpoint=None,
            resume=False, **guard_kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(tmp_path / 'work_dir'),
        experiment_name=f'{tmp_path.name}_{name}',
        train_dataloader=dict(
            dataset=ToyData(nan_iters),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=0.01, fused=True),
            clip_grad=dict(max_norm=1.0)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[NonFiniteGuardHook(**guard_kwargs)],
        default_hooks=dict(
            checkpoint=checkpoint,
            logger=dict(type='LoggerHook', interval=100)),
        resume=resume,
        default_scope='mmpretrain')


def _guard(runner):
    guard, = [h for h in runner.hooks if isinstance(h, NonFiniteGuardHook)]
    return guard


class _Warnings(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_skipped_steps_are_counted_and_logged_at_the_interval(tmp_path):
    runner = _runner(tmp_path, nan_iters=(2, 5, 6), max_iters=8, interval=4)
    handler = _Warnings()
    MMLogger.get_current_instance().addHandler(handler)
    try:
        runner.train()
    finally:
        MMLogger.get_current_instance().removeHandler(handler)
    guard = _guard(runner)
    assert (guard.skipped_steps, guard.consecutive) == (3, 0)
    skips = [m for m in handler.messages if 'Non-finite' in m]
    assert len(skips) == 2  # one line per read that found skips
    assert 'iteration(s) 2:' in skips[0] and '1 skipped in all' in skips[0]
    assert 'iteration(s) 5, 6:' in skips[1] and '3 skipped in all' in skips[1]
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()
    step = runner.optim_wrapper.optimizer.state[runner.model.linear.weight][
        'step']
    assert step.item() == 8 - 3  # the optimizer's own count rolled back
    assert runner.iter == 8  # mmengine's counter was not


def test_max_consecutive_stops_before_a_checkpoint_is_written(tmp_path):
    """3 in a row (iterations 3, 4, 5) with the flags read only at saves:
    the save at iteration 6 reads them and stops the run, unwritten."""
    runner = _runner(tmp_path, nan_iters=range(3, 100), max_iters=20,
                     checkpoint=dict(type='CheckpointHook', interval=2,
                                     by_epoch=False),
                     max_consecutive=3, interval=100)
    weights = {}

    class Record(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            weights[runner.iter + 1] = runner.model.linear.weight.clone()

    runner.register_hook(Record())
    with pytest.raises(NonFiniteTrainingError,
                       match='3 optimizer steps in a row.*--resume'):
        runner.train()
    work_dir = tmp_path / 'work_dir'
    assert (work_dir / 'iter_4.pth').exists()
    assert not (work_dir / 'iter_6.pth').exists()
    latest = read_checkpoint(str(work_dir / 'iter_4.pth'))
    assert torch.equal(latest['state_dict']['linear.weight'], weights[2])
    assert latest['nonfinite_guard'] == dict(skipped_steps=2, consecutive=2)


def test_the_count_survives_a_checkpoint_and_resume(tmp_path):
    checkpoint = dict(type='CheckpointHook', interval=4, by_epoch=False)
    first = _runner(tmp_path, nan_iters=(2, 4), max_iters=4,
                    checkpoint=checkpoint, name='first')
    first.train()
    saved = read_checkpoint(str(tmp_path / 'work_dir' / 'iter_4.pth'))
    assert saved['nonfinite_guard'] == dict(skipped_steps=2, consecutive=1)
    second = _runner(tmp_path, nan_iters=(2, 4, 5), max_iters=6,
                     checkpoint=checkpoint, name='second', resume=True,
                     max_consecutive=3)
    second.train()
    guard = _guard(second)
    assert (guard.skipped_steps, guard.consecutive) == (3, 0)


@pytest.mark.parametrize('kwargs', [dict(max_consecutive=0),
                                    dict(max_consecutive=2.5),
                                    dict(interval=0)])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match='NonFiniteGuardHook'):
        NonFiniteGuardHook(**kwargs)
