from . import transforms  # noqa: F401
from .image_folder import IMAGE_EXTENSIONS, UnlabelledImageFolder
from .imagenet_subset import IMAGENET200_WNIDS, ImageNetSubset

__all__ = [
    'ImageNetSubset', 'IMAGENET200_WNIDS', 'IMAGE_EXTENSIONS',
    'UnlabelledImageFolder'
]
