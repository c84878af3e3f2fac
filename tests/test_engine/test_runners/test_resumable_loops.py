"""The resumable loops serve, after a resume, exactly the batches the
uninterrupted loop served from there, without loading the skipped ones."""
from types import SimpleNamespace

import pytest
from mmengine.dataset import DefaultSampler
from mmengine.logging import MessageHub
from torch.utils.data import DataLoader

from cim_mm.datasets import ResumableInfiniteSampler, ResumableSampler
from cim_mm.engine import (ResumableEpochBasedTrainLoop,
                           ResumableIterBasedTrainLoop)


class Items:
    """0..n-1, counting the loads."""

    def __init__(self, n):
        self.n, self.loads = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        self.loads += 1
        return int(index)


def _runner(name):
    served = []

    def train_step(batch, optim_wrapper):
        served.append(batch.tolist())
        return {}

    hooks = []
    runner = SimpleNamespace(
        visualizer=SimpleNamespace(dataset_meta=None),
        message_hub=MessageHub.get_instance(name),
        model=SimpleNamespace(train=lambda: None, train_step=train_step),
        optim_wrapper=None, val_loop=None,
        call_hook=lambda hook, **kw: hooks.append((hook, kw.get('batch_idx'))))
    return runner, served, hooks


def _epoch_loop(name, sampler_type, epoch=0, it=0, n=8):
    runner, served, hooks = _runner(name)
    items = Items(n)
    loader = DataLoader(items, batch_size=2, sampler=sampler_type(items,
                                                                   seed=0))
    loop = ResumableEpochBasedTrainLoop(runner, loader, max_epochs=2)
    loop._epoch, loop._iter = epoch, it
    return loop, served, hooks, items


@pytest.mark.parametrize('sampler_type', [ResumableSampler, DefaultSampler])
def test_epoch_loop_continues_mid_epoch(sampler_type, request):
    name = request.node.name
    loop, straight, _, _ = _epoch_loop(name + 'a', sampler_type)
    loop.run()
    assert len(straight) == 8 and straight[:4] != straight[4:]
    loop, resumed, hooks, items = _epoch_loop(name + 'b', sampler_type,
                                              epoch=1, it=6)
    loop.run()
    assert resumed == straight[6:]
    assert loop.iter == 8 and loop.epoch == 2
    assert [i for h, i in hooks if h == 'before_train_iter'] == [2, 3]
    # The seekable sampler loads only what is trained; others also the
    # skipped batches.
    assert items.loads == (4 if sampler_type is ResumableSampler else 8)


def test_epoch_loop_resumed_after_a_partial_last_batch(request):
    # 7 items, batch 2: 4 iterations an epoch, the last of 1 item.
    loop, resumed, _, _ = _epoch_loop(request.node.name, ResumableSampler,
                                      epoch=0, it=4, n=7)
    loop.run()
    assert len(resumed) == 4 and loop.iter == 8  # only epoch 1


def test_epoch_loop_refuses_an_iteration_outside_its_epoch(request):
    loop, _, _, _ = _epoch_loop(request.node.name, ResumableSampler,
                                epoch=0, it=5)
    with pytest.raises(RuntimeError, match='does not lie in that epoch'):
        loop.run()


def test_epoch_loop_warns_when_the_epoch_length_changed(request,
                                                        monkeypatch):
    from cim_mm.engine.runners import resumable_epoch_based_loop as module
    logs = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kwargs: logs.append(msg))
    loop, resumed, _, _ = _epoch_loop(request.node.name, ResumableSampler,
                                      epoch=1, it=5, n=6)
    loop.runner.message_hub.update_info('train_iters_per_epoch', 4)
    loop.run()
    assert any('not the one the first run' in m for m in logs)
    assert len(resumed) == 1


def test_iter_loop_resumes_without_loading_skipped_batches(request):
    name = request.node.name

    def loop_at(it, tag):
        runner, served, _ = _runner(name + tag)
        items = Items(5)
        loader = DataLoader(items, batch_size=2,
                            sampler=ResumableInfiniteSampler(items, seed=1))
        loop = ResumableIterBasedTrainLoop(runner, loader, max_iters=7)
        loop._iter = it
        loop.run()
        return served, items.loads

    straight, _ = loop_at(0, 'a')
    resumed, loads = loop_at(4, 'b')
    assert len(straight) == 7 and resumed == straight[4:]
    assert loads == 6  # 3 batches of 2, nothing for the 4 skipped
