"""cim_mm.compat.distributed_without_gpu: --launcher pytorch on CPU."""
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.dist import init_dist
from mmengine.model import MMDistributedDataParallel

from cim_mm import compat


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='the patch only acts without GPU')
def test_pytorch_launcher_uses_gloo_and_cpu_ddp_without_gpu(monkeypatch):

    def no_cuda(*args, **kwargs):
        raise AssertionError('CUDA must not be touched without a GPU')

    monkeypatch.setattr(torch.cuda, 'set_device', no_cuda)
    # MASTER_PORT=0: the single rank's store binds a free port itself.
    for key, value in dict(RANK='0',
                           LOCAL_RANK='0',
                           WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='0').items():
        monkeypatch.setenv(key, value)
    start_method = mp.get_start_method(allow_none=True)
    try:
        init_dist('pytorch', backend='nccl')  # as in the usual configs
        assert torch_dist.get_backend() == 'gloo'
        # Runner.wrap_model passes device_ids=[LOCAL_RANK].
        ddp = MMDistributedDataParallel(module=torch.nn.Linear(2, 2),
                                        device_ids=[0])
        assert ddp.device_ids is None
        ddp(torch.ones(1, 2)).sum().backward()
        del ddp
    finally:
        # Joins gloo's threads now, not at the test session's exit.
        compat.shutdown_distributed(barrier=False)
        mp.set_start_method(start_method, force=True)
