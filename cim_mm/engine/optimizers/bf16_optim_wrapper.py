"""Mixed precision in bfloat16, without loss scaling."""
import contextlib

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs forward and loss under
    ``torch.autocast(dtype=torch.bfloat16)`` on the parameters' device.

    bf16 keeps fp32's exponent range, so there is no loss scaler: no step is
    skipped and no ``grad_norm: inf`` is logged while a fp16 scaler searches
    its scale (mmengine's ``AmpOptimWrapper(dtype='bfloat16')`` still scales).
    Parameters, gradients and optimizer states stay fp32. Select it with
    ``optim_wrapper = dict(type='BF16OptimWrapper', ...)``; ``tools/train.py``
    falls back to fp16 ``AmpOptimWrapper`` on a GPU without bf16 and to fp32
    on a machine without GPU (unless ``--amp``). Registered in mmengine's
    root registry, so mmpretrain and mmseg configs both find it.
    """

    @contextlib.contextmanager
    def optim_context(self, model):
        device = self.param_groups[0]['params'][0].device.type
        with super().optim_context(model), torch.autocast(
                device_type=device, dtype=torch.bfloat16):
            yield


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(BF16OptimWrapper):
    """:class:`BF16OptimWrapper` under the name ``tools/train.py --amp``
    selects on a machine without GPU, where mmengine 0.10.7's
    ``AmpOptimWrapper`` asserts a GPU/NPU/MLU.

    bf16 autocast is faster on CPU only with bf16 units (AMX /
    AVX512-BF16); without them it is slower than fp32 (docs/benchmarks.md,
    "The training step").
    """
