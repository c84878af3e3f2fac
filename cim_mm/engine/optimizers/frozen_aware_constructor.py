"""An optimizer constructor that leaves frozen sub-modules out, quietly."""
import logging

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FrozenAwareOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that skips fully frozen sub-modules.

    With a ``paramwise_cfg``, mmengine's default constructor logs one warning
    per parameter with ``requires_grad=False``: for CIM that is every
    parameter of the EMA target encoder (hundreds of lines for a ViT-B). This
    constructor leaves out any sub-module whose parameters are all frozen
    (the target encoder, a frozen patch embedding) with one INFO line each;
    trainable parameters get exactly the groups the default would give.
    """

    def add_params(self, params, module: nn.Module, prefix: str = '',
                   is_dcn_module=None) -> None:
        module_params = list(module.parameters())
        if prefix and module_params and not any(
                p.requires_grad for p in module_params):
            count = sum(p.numel() for p in module_params)
            print_log(f'{prefix}: frozen ({count} parameters), not optimised',
                      logger='current', level=logging.INFO)
            return
        super().add_params(params, module, prefix, is_dcn_module)
