from .atomic_checkpoint_hook import AtomicCheckpointHook
from .correlation_map_visualization_hook import CorrelationMapVisualizationHook
from .knn_monitor_hook import KNNMonitorHook
from .nonfinite_guard_hook import (NonFiniteGuardHook,
                                   NonFiniteTrainingError)
from .skipped_images_hook import SkippedImagesHook
from .stop_on_signal_hook import (StopOnSignalHook, TrainingStopped,
                                  train_until_stopped)
from .target_ema_hook import TargetEMAHook

__all__ = [
    'AtomicCheckpointHook',
    'CorrelationMapVisualizationHook', 'KNNMonitorHook', 'NonFiniteGuardHook',
    'NonFiniteTrainingError', 'SkippedImagesHook', 'StopOnSignalHook',
    'TargetEMAHook', 'TrainingStopped', 'train_until_stopped'
]
