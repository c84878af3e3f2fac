from .correlation_head import CorrelationHead

__all__ = ['CorrelationHead']
