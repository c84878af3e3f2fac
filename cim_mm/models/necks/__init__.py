from .correlation_decoder import CorrelationDecoder

__all__ = ['CorrelationDecoder']
