"""Draw a CIM pair in the worker: the search image and every parameter."""
from typing import Optional

import numpy as np
from mmpretrain.registry import TRANSFORMS

from .correlational_crop import CorrelationalCrop
from .exemplar_photometric_params import (FLIP, RELEASE_AUGMENTATION,
                                          check_augmentation,
                                          draw_exemplar_photometric)


@TRANSFORMS.register_module()
class DrawCorrelationalPair(CorrelationalCrop):
    """Decode-side half of a CIM pair: the search image and the draws.

    The pixels of the pair (context, exemplars, their augmentation) and the
    maps are made from this transform's output by one batched torch
    function, :func:`cim_mm.models.utils.pair_synthesis.synthesise_batch`,
    in ``CIMDataPreprocessor`` (on the model's device) or, with
    ``collate_fn=dict(type='pair_synthesis_collate')``, in the DataLoader
    workers; the same function either way.

    1. Search image: the search crop (mmpretrain's ``RandomResizedCrop``
       sampler, ``search_scale`` and ``search_ratio``) resized to
       ``search_size`` squared (OpenCV ``INTER_AREA`` when both sides
       shrink, else ``interpolation``) and flipped with p=0.5, as in the
       authors' release. Context and exemplars are resampled from it.
    2. The exemplar geometry and flips, drawn as :class:`CorrelationalCrop`
       draws them (same arguments, same numbers from the same seeds).
    3. Each exemplar's photometric augmentation, torchvision's definitions
       (:func:`draw_exemplar_photometric`): ``exemplar_augmentation`` in
       its vocabulary, by default the release's recipe
       (:data:`RELEASE_AUGMENTATION`: colour jitter 0.4/0.4/0.2/0.1 with
       p=0.8 in a random order, grayscale p=0.2, blur sigma 0.1-2 p=0.5,
       solarize p=0.2); None for none. ``context_augmentation`` (None by
       default, the paper's choice, Table 1d) augments the context with
       such a draw too (no flip: the search crop's flip is the context's).

    Randomness: the geometry from numpy's global RNG (seeded per sample by
    ``LoadCheckedImage`` from the sampler's keys), then one 64-bit draw
    from it seeds the ``numpy.random.Generator`` of the photometric draws.

    **Added Keys:** ``search`` (S x S x 3 uint8 BGR), ``exemplar_corners``
    (K x 4 x 2 float32, context coordinates, see :class:`CorrelationalCrop`),
    ``exemplar_flipped`` (K bool), ``exemplar_augmentation`` (K x 14
    float32, the layout of :mod:`.exemplar_photometric_params`, its flip
    column equal to ``exemplar_flipped``), ``context_augmentation`` (14
    float32, only when configured), ``exemplar_size`` (n).
    **Deleted Keys:** ``img``. **Modified Keys:** ``img_shape`` = (m, m).

    Args:
        exemplar_augmentation (dict, optional): keyword arguments of
            :func:`draw_exemplar_photometric` (missing ones take the
            release's values); None: no photometric augmentation.
        context_augmentation (dict, optional): likewise for the context;
            None (default): none.
        Others: the geometry arguments of :class:`CorrelationalCrop`
        (``exemplar_transforms`` and ``context_transforms`` are not taken).
    """

    def __init__(self,
                 *args,
                 exemplar_augmentation: Optional[dict] = RELEASE_AUGMENTATION,
                 context_augmentation: Optional[dict] = None,
                 **kwargs) -> None:
        for old in ('exemplar_transforms', 'context_transforms'):
            if old in kwargs:
                new = old.replace('transforms', 'augmentation')
                raise ValueError(
                    f'DrawCorrelationalPair takes {new} (a dict of '
                    f'{sorted(RELEASE_AUGMENTATION)}), not {old}; the '
                    f'release\'s recipe is the default.')
        super().__init__(*args, exemplar_transforms=(),
                         context_transforms=(), **kwargs)
        self.exemplar_augmentation = None if exemplar_augmentation is None \
            else check_augmentation('exemplar_augmentation',
                                    exemplar_augmentation)
        self.context_augmentation = None if context_augmentation is None \
            else check_augmentation('context_augmentation',
                                    context_augmentation)

    def _draw_photometric(self, flip_exemplars: np.ndarray) -> dict:
        """The exemplars' (and the context's) photometric parameters, from
        a generator seeded by one draw of numpy's global RNG."""
        rng = np.random.default_rng(np.random.randint(2**63, dtype=np.int64))
        num = self.num_exemplars
        none = dict(jitter_prob=0., gray_prob=0., blur_prob=0.,
                    solarize_prob=0.)
        exemplar = draw_exemplar_photometric(
            rng, num, **(self.exemplar_augmentation or none), flip_prob=0.)
        exemplar[:, FLIP] = flip_exemplars
        drawn = dict(exemplar_augmentation=exemplar)
        if self.context_augmentation is not None:
            drawn['context_augmentation'] = draw_exemplar_photometric(
                rng, 1, **self.context_augmentation, flip_prob=0.)[0]
        return drawn

    def transform(self, results: dict) -> dict:
        img = self._to_bgr(results)
        box, flip_context, corners, flip_exemplars = self._sample_params(img)
        results.update(self._draw_photometric(flip_exemplars))
        results.pop('img')
        results['search'] = self._resized_crop(img, box, flip_context,
                                               self.search_size)
        results['exemplar_corners'] = corners
        results['exemplar_flipped'] = flip_exemplars
        results['img_shape'] = (self.context_size, self.context_size)
        results['exemplar_size'] = self.exemplar_size
        return results

    def __repr__(self) -> str:
        text = super().__repr__()
        text = text.replace(f'exemplar_transforms={self.exemplar_pipeline}, ',
                            '').replace(
                                f'context_transforms={self.context_pipeline}, ',
                                '')
        return (text[:-1] +
                f', exemplar_augmentation={self.exemplar_augmentation}, '
                f'context_augmentation={self.context_augmentation})')
