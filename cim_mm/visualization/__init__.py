from .correlation_grid import draw_correlation_grid
from .correlation_rows import correlation_rows

__all__ = ['draw_correlation_grid', 'correlation_rows']
