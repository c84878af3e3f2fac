from . import transforms  # noqa: F401
from .imagenet_subset import IMAGENET200_WNIDS, ImageNetSubset

__all__ = ['ImageNetSubset', 'IMAGENET200_WNIDS']
