from .hooks import TargetEMAHook
from .optimizers import BF16OptimWrapper, FrozenAwareOptimWrapperConstructor
from .runners import ResumableEpochBasedTrainLoop, ResumableIterBasedTrainLoop

__all__ = [
    'TargetEMAHook', 'BF16OptimWrapper', 'FrozenAwareOptimWrapperConstructor',
    'ResumableEpochBasedTrainLoop', 'ResumableIterBasedTrainLoop'
]
