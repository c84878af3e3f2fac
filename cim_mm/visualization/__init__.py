from .correlation_grid import draw_correlation_grid
from .correlation_rows import correlation_rows
from .scalar_logs import (ScalarLogError, default_curve_keys,
                          read_work_dir_scalars)
from .tensorboard_backend import CheckedTensorboardVisBackend

__all__ = [
    'CheckedTensorboardVisBackend', 'ScalarLogError', 'correlation_rows',
    'default_curve_keys', 'draw_correlation_grid', 'read_work_dir_scalars'
]
