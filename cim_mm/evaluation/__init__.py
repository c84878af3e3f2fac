from .metrics import CorrelationIoU

__all__ = ["CorrelationIoU"]
