"""Where a resumed loop's DataLoader can start part-way without loading."""
import logging
from typing import Optional

from mmengine.logging import print_log
from torch.utils.data import DataLoader


def seekable_sampler(dataloader: DataLoader, loop: str) -> Optional[object]:
    """The sampler of ``dataloader`` if it has ``set_start`` and batches of
    a fixed size (no custom batch sampler), else None with a warning that
    ``loop`` loads the skipped batches instead."""
    sampler = getattr(dataloader, 'sampler', None)
    if hasattr(sampler, 'set_start') and dataloader.batch_size:
        return sampler
    print_log(
        f'{loop}: the sampler {type(sampler).__name__} cannot start '
        'part-way (use ResumableSampler / ResumableInfiniteSampler, without '
        'a batch_sampler): the skipped batches are loaded and discarded.',
        logger='current',
        level=logging.WARNING)
    return None
