from .cim_runner import CIMRunner
from .resumable_epoch_based_loop import ResumableEpochBasedTrainLoop
from .resumable_iter_based_loop import ResumableIterBasedTrainLoop

__all__ = [
    'CIMRunner', 'ResumableEpochBasedTrainLoop', 'ResumableIterBasedTrainLoop'
]
