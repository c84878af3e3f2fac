from . import samplers, transforms  # noqa: F401
from .image_folder import IMAGE_EXTENSIONS, UnlabelledImageFolder
from .imagenet_subset import IMAGENET200_WNIDS, ImageNetSubset
from .samplers import ResumableInfiniteSampler, ResumableSampler, SampleKey

__all__ = [
    'ImageNetSubset', 'IMAGENET200_WNIDS', 'IMAGE_EXTENSIONS',
    'ResumableInfiniteSampler', 'ResumableSampler', 'SampleKey',
    'UnlabelledImageFolder'
]
