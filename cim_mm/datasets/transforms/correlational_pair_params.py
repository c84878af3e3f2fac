"""The worker's half of device-side pair synthesis: one resize, all draws."""
import logging

import torch
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

from .correlational_crop import CorrelationalCrop
from .photometric_params import PhotometricParamRecorder


@TRANSFORMS.register_module()
class CorrelationalPairParams(CorrelationalCrop):
    """Draw a CIM pair in the worker; build its pixels on the device.

    Same arguments, checks and random draws as :class:`CorrelationalCrop`
    (so configs, ``--cfg-options`` lines and seeds carry over), but the
    worker only decodes, takes the search crop and draws the parameters;
    ``CIMDataPreprocessor`` builds the context, the exemplars, their
    photometric augmentation and flips, and the maps, batched on the device.

    1. Search image: the search crop (mmpretrain's ``RandomResizedCrop``
       sampler) resized to ``search_size`` squared (OpenCV ``INTER_AREA``
       when both sides shrink, else ``interpolation``) and flipped with the
       drawn context flip: the authors' release's search image.
    2. The exemplar geometry and flips exactly as ``CorrelationalCrop``
       draws them (context coordinates).
    3. Per exemplar, the random values of ``exemplar_transforms``, drawn by
       the transforms' own methods in the same order
       (:class:`PhotometricParamRecorder`): with the same seeds, the same
       parameters as the CPU path. Supported: colour jitter (in
       ``RandomApply``), grayscale, Gaussian blur, solarize; anything else
       is refused when the transform is built.

    ``pixels`` chooses where the pixels are made: ``'device'`` as above,
    ``'worker'`` exactly as :class:`CorrelationalCrop` (same draws, same
    outputs), ``'auto'`` (default) the device when a GPU is available when
    the transform is built, else the worker: on a CPU-only machine the
    batched torch ops in the main process are slower than OpenCV in the
    workers (the demo's 96/48 px pairs: 5.7 ms against 2.5 ms per sample
    on one core).

    ``context_transforms`` need the context's pixels in the worker: use
    :class:`CorrelationalCrop` for them (Table 1d's "context" rows).

    **Added Keys:** ``search`` (S x S x 3 uint8 BGR), ``exemplar_corners``
    (K x 4 x 2 float32), ``exemplar_flipped`` (K bool),
    ``exemplar_photometric`` (K x P float32, layout in
    :class:`PhotometricParamRecorder`), ``exemplar_size`` (n). **Deleted
    Keys:** ``img``.
    **Modified Keys:** ``img_shape`` = (m, m).
    """

    PIXELS = ('auto', 'device', 'worker')

    def __init__(self, *args, pixels: str = 'auto', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if pixels not in self.PIXELS:
            raise ValueError(f'pixels must be one of {self.PIXELS}, got '
                             f'{pixels!r}.')
        if pixels == 'auto':
            pixels = 'device' if torch.cuda.is_available() else 'worker'
            print_log(
                f'CorrelationalPairParams: pair pixels built in the {pixels}'
                f' ({"a GPU is" if pixels == "device" else "no GPU"} '
                'available; set pixels= to choose)',
                logger='current', level=logging.INFO)
        self.pixels = pixels
        if len(self.context_pipeline.transforms) and pixels == 'device':
            raise ValueError(
                'CorrelationalPairParams builds the context on the device '
                'and cannot run context_transforms; use CorrelationalCrop '
                "or pixels='worker' with context_transforms, or drop them.")
        # The worker path runs the transforms themselves, any of them.
        self.photometric = PhotometricParamRecorder(
            self.exemplar_pipeline.transforms) if pixels == 'device' else None

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', pixels={self.pixels!r})'

    def transform(self, results: dict) -> dict:
        if self.pixels == 'worker':
            return super().transform(results)
        img = self._to_bgr(results)
        box, flip_context, corners, flip_exemplars = self._sample_params(img)
        # The CPU path draws each exemplar's augmentation after the
        # geometry, exemplar by exemplar: the same order here.
        photometric = self.photometric.draw(self.num_exemplars)
        results.pop('img')
        results['search'] = self._resized_crop(img, box, flip_context,
                                               self.search_size)
        results['exemplar_corners'] = corners
        results['exemplar_flipped'] = flip_exemplars
        results['exemplar_photometric'] = photometric
        results['img_shape'] = (self.context_size, self.context_size)
        results['exemplar_size'] = self.exemplar_size
        return results
