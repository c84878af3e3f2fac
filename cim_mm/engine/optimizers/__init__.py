from .bf16_optim_wrapper import BF16OptimWrapper
from .frozen_aware_constructor import FrozenAwareOptimWrapperConstructor

__all__ = ['BF16OptimWrapper', 'FrozenAwareOptimWrapperConstructor']
