from .bf16_optim_wrapper import BF16OptimWrapper, CPUAmpOptimWrapper
from .frozen_aware_constructor import FrozenAwareOptimWrapperConstructor

__all__ = [
    'BF16OptimWrapper', 'CPUAmpOptimWrapper',
    'FrozenAwareOptimWrapperConstructor'
]
