from .correlation_head import CorrelationHead
from .siamfc_head import SiamFCHead
from .siamrpn_head import SiamRPNHead
from .tracker_head import TrackerHead
from .transt_head import TransTHead

__all__ = [
    'CorrelationHead', 'SiamFCHead', 'SiamRPNHead', 'TrackerHead',
    'TransTHead'
]
