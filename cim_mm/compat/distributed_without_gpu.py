"""``--launcher pytorch`` on a machine without a GPU."""
import functools
import logging

import torch.distributed as torch_dist
from mmengine.device import get_device
from mmengine.dist import utils as dist_utils
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel

from .patching import patch

__all__ = ['patch_distributed_without_gpu']


def _init_dist_pytorch_without_gpu(original):

    @functools.wraps(original)
    def init(backend, init_backend='torch', **kwargs):
        if init_backend != 'torch' or get_device() != 'cpu':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend != 'gloo':
            print_log(
                f"No GPU available: the configured distributed backend "
                f"'{backend}' is replaced by 'gloo'.",
                logger='current',
                level=logging.WARNING)
        torch_dist.init_process_group(backend='gloo', **kwargs)

    return init


def _ddp_init_for_cpu_modules(original):

    @functools.wraps(original)
    def __init__(self, module, *args, **kwargs):
        if kwargs.get('device_ids') is not None and all(
                p.device.type == 'cpu' for p in module.parameters()):
            kwargs['device_ids'] = None
        original(self, module, *args, **kwargs)

    return __init__


def patch_distributed_without_gpu():
    """Make ``--launcher pytorch`` train on CPU-only machines.

    Upstream: mmengine 0.10.7's ``_init_dist_pytorch`` calls
    ``torch.cuda.set_device`` unconditionally and uses the configured backend
    (usually nccl); ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]``
    to ``MMDistributedDataParallel``, which DDP rejects for CPU modules.

    Fix: without any accelerator, ``_init_dist_pytorch`` (looked up by
    ``init_dist`` at call time) initialises a gloo process group and makes no
    CUDA call; ``MMDistributedDataParallel`` drops ``device_ids`` for modules
    whose parameters are all on CPU. GPU machines are unaffected.

    Remove when mmengine supports CPU distributed training itself.
    """
    patch(dist_utils, '_init_dist_pytorch', _init_dist_pytorch_without_gpu)
    patch(MMDistributedDataParallel, '__init__', _ddp_init_for_cpu_modules)
