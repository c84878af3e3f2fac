from .correlational_crop import DEFAULT_EXEMPLAR_TRANSFORMS, CorrelationalCrop
from .correlational_pair_params import CorrelationalPairParams
from .draw_correlational_pair import DrawCorrelationalPair
from .exemplar_photometric_params import draw_exemplar_photometric
from .formatting import PackCIMInputs
from .loading import LoadCheckedImage, UnusableImageError
from .photometric import FastColorJitter, FastGaussianBlur
from .photometric_params import PhotometricParamRecorder

__all__ = [
    'CorrelationalCrop', 'CorrelationalPairParams',
    'DEFAULT_EXEMPLAR_TRANSFORMS', 'DrawCorrelationalPair', 'FastColorJitter', 'FastGaussianBlur',
    'draw_exemplar_photometric',
    'LoadCheckedImage', 'PackCIMInputs', 'PhotometricParamRecorder',
    'UnusableImageError'
]
