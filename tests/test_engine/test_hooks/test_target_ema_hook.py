import math

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from cim_mm.engine.hooks import NonFiniteGuardHook, TargetEMAHook


class ToyEMAModel(BaseModel):
    """A model with CIM's `update_target` interface that records its calls."""

    def __init__(self):
        super().__init__()
        self.online = nn.Linear(2, 1)
        self.target = nn.Linear(2, 1)
        self.target.requires_grad_(False)
        self.calls = []
        self.skips = []

    def update_target(self, momentum, skip=None):
        self.calls.append(momentum)
        self.skips.append(None if skip is None else skip.item())

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.online(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


class ToyData(Dataset):
    """Sample ``i`` holds ``i``, or NaN for ``i`` in ``nan_samples``."""

    def __init__(self, nan_samples=()):
        self.nan_samples = set(nan_samples)

    def __len__(self):
        return 64

    def __getitem__(self, i):
        value = math.nan if i in self.nan_samples else float(i)
        return dict(inputs=torch.full((2, ), value))


def _train(tmp_path, max_iters, accumulative_counts=1, guard=None,
           nan_samples=(), **hook_kwargs):
    runner = Runner(
        model=ToyEMAModel(),
        work_dir=str(tmp_path),
        experiment_name=tmp_path.name,  # unique: no shared logger/hub
        train_dataloader=dict(
            dataset=ToyData(nan_samples),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01),
            accumulative_counts=accumulative_counts),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[TargetEMAHook(**hook_kwargs)] + ([guard] if guard
                                                       else []),
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='mmpretrain')
    runner.train()
    return runner.model.calls if guard is None else runner.model.skips


def test_momentum_rises_from_base_to_one_on_a_cosine():
    hook = TargetEMAHook(momentum=0.99, end_momentum=1.0)
    assert hook.get_momentum(0, 100) == pytest.approx(0.99)
    assert hook.get_momentum(50, 100) == pytest.approx(0.995)
    assert hook.get_momentum(100, 100) == pytest.approx(1.0)
    expected = 1 - (1 - 0.99) * (math.cos(math.pi * 30 / 100) + 1) / 2
    assert hook.get_momentum(30, 100) == pytest.approx(expected)
    values = [hook.get_momentum(i, 100) for i in range(101)]
    assert values == sorted(values)


def test_constant_schedule_keeps_base_momentum():
    hook = TargetEMAHook(momentum=0.9, schedule='constant')
    assert hook.get_momentum(70, 100) == 0.9


@pytest.mark.parametrize('kwargs, name', [
    (dict(momentum=1.5), 'momentum'),
    (dict(end_momentum=-0.1), 'end_momentum'),
    (dict(schedule='linear'), 'schedule'),
])
def test_invalid_arguments_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TargetEMAHook(**kwargs)


def test_updates_once_per_iteration_with_the_scheduled_momentum(tmp_path):
    calls = _train(tmp_path, max_iters=4)
    hook = TargetEMAHook()
    assert calls == pytest.approx([hook.get_momentum(i, 4) for i in range(4)])


def test_updates_once_per_optimizer_step_under_gradient_accumulation(
        tmp_path):
    calls = _train(tmp_path, max_iters=6, accumulative_counts=3)
    hook = TargetEMAHook()
    # Steps happen at the 3rd and 6th micro-batch (iterations 2 and 5).
    assert calls == pytest.approx(
        [hook.get_momentum(2, 6), hook.get_momentum(5, 6)])


def test_refuses_a_model_without_a_target(tmp_path):
    runner = Runner(
        model=nn.Module(),
        work_dir=str(tmp_path),
        experiment_name=tmp_path.name,
        default_scope='mmpretrain')
    with pytest.raises(TypeError, match='update_target'):
        TargetEMAHook().before_train(runner)


def test_passes_the_guards_verdict_on_per_optimizer_step(tmp_path):
    """With NonFiniteGuardHook, each update gets its optimizer step's skip
    flag (a device tensor): 1 for the step whose micro-batch was NaN."""
    skips = _train(tmp_path, max_iters=6, accumulative_counts=3,
                   guard=NonFiniteGuardHook(), nan_samples=(7, ))
    assert skips == [0.0, 1.0]  # sample 7: iteration 4, the second step
