from .hooks import TargetEMAHook
from .optimizers import BF16OptimWrapper, FrozenAwareOptimWrapperConstructor

__all__ = [
    'TargetEMAHook', 'BF16OptimWrapper', 'FrozenAwareOptimWrapperConstructor'
]
