from .correlation_grid import draw_correlation_grid

__all__ = ["draw_correlation_grid"]
