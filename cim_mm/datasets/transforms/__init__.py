from .correlational_crop import DEFAULT_EXEMPLAR_TRANSFORMS, CorrelationalCrop
from .formatting import PackCIMInputs
from .photometric import FastColorJitter, FastGaussianBlur

__all__ = [
    'CorrelationalCrop', 'DEFAULT_EXEMPLAR_TRANSFORMS', 'FastColorJitter',
    'FastGaussianBlur', 'PackCIMInputs'
]
