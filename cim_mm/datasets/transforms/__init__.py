from . import removed_transforms  # noqa: F401 (errors naming replacements)
from .draw_correlational_pair import DrawCorrelationalPair
from .exemplar_photometric_params import (RELEASE_AUGMENTATION,
                                          draw_exemplar_photometric)
from .formatting import PackCIMInputs
from .loading import LoadCheckedImage, UnusableImageError

__all__ = [
    'DrawCorrelationalPair', 'LoadCheckedImage', 'PackCIMInputs',
    'RELEASE_AUGMENTATION', 'UnusableImageError', 'draw_exemplar_photometric'
]
