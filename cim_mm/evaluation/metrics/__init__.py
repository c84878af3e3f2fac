from .correlation_iou import CorrelationIoU

__all__ = ['CorrelationIoU']
