"""Load an image, or skip it by policy when it cannot be used."""
import logging
from typing import List, Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log

from mmpretrain.registry import TRANSFORMS

from ..samplers.sample_key import SampleKey, seed_sample_rngs

# Skipped (path, reason) pairs of this process (a DataLoader worker or the
# main process) not yet handed over with a loaded sample; the paths this
# process has warned about.
_PENDING_SKIPS: List[Tuple[str, str]] = []
_WARNED = set()


class UnusableImageError(ValueError):
    """The file cannot be used as a training image."""


def _decode(data: bytes, min_size: int) -> np.ndarray:
    """H x W x 3 uint8 BGR, or :class:`UnusableImageError` with the reason.

    Grayscale, palette, 16-bit and RGBA images are converted (OpenCV's
    ``IMREAD_COLOR``); a cut-off JPEG or PNG is refused as a whole.
    """
    if not data:
        raise UnusableImageError('empty file')
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise UnusableImageError('not decodable (corrupt, truncated or not '
                                 'an image)')
    height, width = img.shape[:2]
    if min(height, width) < min_size:
        raise UnusableImageError(
            f'too small: {width} x {height} pixels, the pairs need both '
            f'sides >= {min_size}')
    return img


@TRANSFORMS.register_module()
class LoadCheckedImage(BaseTransform):
    """``LoadImageFromFile`` for pre-training, with a policy for images that
    cannot be used (unreadable, undecodable, smaller than ``min_size``).

    ``on_bad_image='skip'`` (default): return None, so mmengine's
    ``BaseDataset`` draws another sample (up to its ``max_refetch``); a
    WARNING names the file and the reason once per process, and the next
    loaded sample carries the skipped files as ``skipped_images``, which
    ``SkippedImagesHook`` counts (and stops a run whose skipped share is too
    high). ``'raise'``: the first bad file stops the run, named.

    When ``sample_idx`` is a :class:`SampleKey` (as the resumable samplers
    yield it), Python's ``random`` and numpy's global RNG are first seeded
    from its (seed, epoch, index), so all the sample's draws depend on that
    key only, and ``sample_idx`` is stored as an int. A bad image's
    replacement comes as a plain index and draws on from the bad sample's
    seeding; with other samplers the RNGs are left as they are.

    **Added Keys:** ``img`` (H x W x 3 uint8 BGR), ``img_shape``,
    ``ori_shape``, ``skipped_images`` (list of ``(path, reason)``).

    Args:
        min_size (int): Smallest usable side in pixels; keep it equal to the
            pair step's ``min_image_size``. Defaults to 32.
        on_bad_image (str): ``'skip'`` or ``'raise'``. Defaults to 'skip'.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    POLICIES = ('skip', 'raise')

    def __init__(self,
                 min_size: int = 32,
                 on_bad_image: str = 'skip',
                 backend_args: Optional[dict] = None) -> None:
        if on_bad_image not in self.POLICIES:
            raise ValueError(f'LoadCheckedImage: on_bad_image must be one of '
                             f'{self.POLICIES}, got {on_bad_image!r}.')
        if not isinstance(min_size, int) or min_size < 1:
            raise ValueError(f'LoadCheckedImage: min_size must be a positive '
                             f'int, got {min_size!r}.')
        self.min_size = min_size
        self.on_bad_image = on_bad_image
        self.backend_args = backend_args

    def transform(self, results: dict) -> Optional[dict]:
        key = results.get('sample_idx')
        if isinstance(key, SampleKey):
            seed_sample_rngs(key)
            results['sample_idx'] = int(key)
        path = results['img_path']
        try:
            try:
                data = fileio.get(path, backend_args=self.backend_args)
            except OSError as err:
                raise UnusableImageError(
                    f'unreadable ({type(err).__name__}: {err})') from err
            img = _decode(data, self.min_size)
        except UnusableImageError as err:
            if self.on_bad_image == 'raise':
                raise UnusableImageError(
                    f"Cannot use image '{path}': {err}. Remove it, or set "
                    "on_bad_image='skip' in the pipeline's LoadCheckedImage "
                    'step to skip such files.') from None
            self._skip(str(path), str(err))
            return None
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        results['skipped_images'] = list(_PENDING_SKIPS)
        _PENDING_SKIPS.clear()
        return results

    @staticmethod
    def _skip(path: str, reason: str) -> None:
        _PENDING_SKIPS.append((path, reason))
        if path not in _WARNED:
            _WARNED.add(path)
            print_log(
                f"Skipped image '{path}': {reason} (another sample is used "
                "instead; on_bad_image='raise' stops at such files).",
                logger='current',
                level=logging.WARNING)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_size={self.min_size}, '
                f'on_bad_image={self.on_bad_image!r}, '
                f'backend_args={self.backend_args})')

