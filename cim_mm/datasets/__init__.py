from . import samplers, transforms  # noqa: F401
from .image_folder import IMAGE_EXTENSIONS, UnlabelledImageFolder
from .imagenet_subset import IMAGENET200_WNIDS, ImageNetSubset
from .keyed_repeat_dataset import KeyedRepeatDataset
from .samplers import ResumableInfiniteSampler, ResumableSampler, SampleKey
# After transforms: the collate uses the models' pair synthesis, whose
# preprocessor imports transforms.formatting.
from .pair_synthesis_collate import pair_synthesis_collate  # noqa: E402

__all__ = [
    'ImageNetSubset', 'IMAGENET200_WNIDS', 'IMAGE_EXTENSIONS',
    'KeyedRepeatDataset',
    'ResumableInfiniteSampler', 'ResumableSampler', 'SampleKey',
    'UnlabelledImageFolder', 'pair_synthesis_collate'
]
