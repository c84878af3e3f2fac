from .correlation_decoder import CorrelationDecoder
from .siamese_correlation import SiameseCorrelation
from .transt_feature_fusion import TransTFeatureFusion

__all__ = ['CorrelationDecoder', 'SiameseCorrelation', 'TransTFeatureFusion']
