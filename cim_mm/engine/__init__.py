from .hooks import TargetEMAHook
from .optimizers import FrozenAwareOptimWrapperConstructor

__all__ = ['TargetEMAHook', 'FrozenAwareOptimWrapperConstructor']
