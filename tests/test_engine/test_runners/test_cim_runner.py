"""CIMRunner: the newest complete checkpoint on resume (upstream's answer
where it cannot check), --launcher pytorch without a GPU, DataLoader
workers that install the kept stop-signal handlers after mmengine's
seeded init."""
import functools
import signal

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.registry import RUNNERS
from mmengine.runner.checkpoint import find_latest_checkpoint
from torch.utils.data import Dataset

import cim_mm.compat.enable  # noqa: F401
from cim_mm import compat
from cim_mm.checkpoint.latest import find_latest_complete_checkpoint
from cim_mm.engine.runners import CIMRunner
from cim_mm.engine.runners.worker_signals import (
    install_kept_signal_handlers, keep_signal_handlers_in_workers)


def test_unchecked_pointers_get_upstreams_answer(tmp_path):
    folder = tmp_path / 'iter_2.pth'
    (folder / 'checkpoint').mkdir(parents=True)
    legacy = tmp_path / 'iter_4.pth'
    torch.save({'w': torch.ones(1)}, legacy,
               _use_new_zipfile_serialization=False)
    for target in (str(folder), str(legacy), 's3://bucket/work/iter_8.pth'):
        (tmp_path / 'last_checkpoint').write_text(target + '\n')
        assert find_latest_complete_checkpoint(str(tmp_path)) == \
            find_latest_checkpoint(str(tmp_path)) == target


def test_resume_without_any_checkpoint_starts_anew(toy_class_images, toy_cfg,
                                                   tmp_path):
    cfg = toy_cfg(toy_class_images, tmp_path, 'nothing_to_resume',
                  **{'resume': True, 'train_cfg.max_iters': 2})
    runner = RUNNERS.build(cfg)
    assert isinstance(runner, CIMRunner)
    runner.train()
    assert runner.iter == 2


class SignalHandlerOf(Dataset):
    """Each item: whether the worker's SIGUSR2 handler is ``expected``."""

    def __init__(self, expected):
        self.expected = expected

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return signal.getsignal(signal.SIGUSR2) is self.expected


def kept_handler(signum, frame):
    """Registered for the workers."""


def test_workers_run_mmengines_init_then_install_the_kept_handlers():
    keep_signal_handlers_in_workers({signal.SIGUSR2: kept_handler})
    try:
        loader = CIMRunner.build_dataloader(
            dict(batch_size=1, num_workers=1, dataset=SignalHandlerOf(
                kept_handler), sampler=dict(type='DefaultSampler',
                                            shuffle=False)), seed=3)
        chained = loader.worker_init_fn
        # mmengine's seeded default, kept as the first link
        init = chained.keywords['init']
        assert isinstance(init, functools.partial)
        assert init.func is mmengine_worker_init_fn
        assert init.keywords['seed'] == 3
        assert [bool(x) for x in loader] == [True, True]
    finally:
        keep_signal_handlers_in_workers({signal.SIGUSR2: None})
    install_kept_signal_handlers()  # nothing kept: changes nothing
    assert signal.getsignal(signal.SIGUSR2) is not kept_handler


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='the gloo start only acts without GPU')
def test_pytorch_launcher_trains_on_gloo_and_cpu_ddp_without_gpu(
        toy_class_images, toy_cfg, tmp_path, monkeypatch):

    def no_cuda(*args, **kwargs):
        raise AssertionError('CUDA must not be touched without a GPU')

    monkeypatch.setattr(torch.cuda, 'set_device', no_cuda)
    # MASTER_PORT=0: the single rank's store binds a free port itself.
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='0').items():
        monkeypatch.setenv(key, value)
    cfg = toy_cfg(toy_class_images, tmp_path, 'gloo_launch',
                  **{'launcher': 'pytorch', 'train_cfg.max_iters': 1})
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # as in the usual configs
    start_method = mp.get_start_method(allow_none=True)
    try:
        runner = RUNNERS.build(cfg)
        assert torch_dist.get_backend() == 'gloo'
        runner.train()
        assert runner.model.device_ids is None  # DDP of a CPU module
        assert runner.iter == 1
        del runner
    finally:
        # Joins gloo's threads now, not at the test session's exit.
        compat.shutdown_distributed(barrier=False)
        mp.set_start_method(start_method, force=True)
