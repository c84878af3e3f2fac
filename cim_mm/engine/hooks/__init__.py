from .correlation_map_visualization_hook import CorrelationMapVisualizationHook
from .skipped_images_hook import SkippedImagesHook
from .target_ema_hook import TargetEMAHook

__all__ = [
    'CorrelationMapVisualizationHook', 'SkippedImagesHook', 'TargetEMAHook'
]
