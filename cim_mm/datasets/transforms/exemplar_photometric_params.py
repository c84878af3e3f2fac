"""Draw the values of the exemplars' photometric augmentation.

:func:`draw_exemplar_photometric` draws, per exemplar and independently,
what the authors' release draws (torchvision's ``ColorJitter`` with p=0.8
in a random order of its four adjustments, ``RandomGrayscale``, a Gaussian
blur, a solarize); the pixels are changed later, for a whole batch, by
:func:`cim_mm.models.utils.exemplar_photometric.apply_exemplar_photometric`.
It draws from a ``numpy.random.Generator`` (seeded per sample in the
worker), so the values follow torchvision's distributions, not its numbers.

One exemplar's parameters are ``EXEMPLAR_PARAM_DIM`` = 14 float32 values:

==========  =====  ==========================================================
name        index  value
==========  =====  ==========================================================
JITTER      0      1 if the colour jitter runs, else 0
ORDER       1-4    the order of its adjustments, a permutation of 0
                   brightness, 1 contrast, 2 saturation, 3 hue
BRIGHTNESS  5      brightness factor
CONTRAST    6      contrast factor
SATURATION  7      saturation factor
HUE         8      hue shift, a fraction of the hue circle
GRAY        9      1 if the grayscale runs, else 0
BLUR        10     1 if the Gaussian blur runs, else 0
BLUR_SIGMA  11     its sigma in pixels
SOLARIZE    12     1 if the solarize runs, else 0
FLIP        13     1 if the exemplar is flipped horizontally, else 0
==========  =====  ==========================================================

An operation that does not run carries neutral values (factors 1, shift 0,
sigma 0, order 0-3), so a vector reads the same whoever applies it.
"""
import math
from typing import Optional

import numpy as np

from .argument_checks import check_prob, check_range

JITTER = 0
ORDER = slice(1, 5)
BRIGHTNESS, CONTRAST, SATURATION, HUE = 5, 6, 7, 8
GRAY = 9
BLUR, BLUR_SIGMA = 10, 11
SOLARIZE = 12
FLIP = 13
EXEMPLAR_PARAM_DIM = 14

#: The release's recipe (``../shared/reference/cim-facts.md``):
#: ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` with p=0.8, grayscale p=0.2, blur
#: sigma 0.1-2 with p=0.5, solarize p=0.2. The exemplar flip is the pair
#: transform's ``exemplar_flip_prob``.
RELEASE_AUGMENTATION = dict(jitter_prob=0.8, brightness=(0.6, 1.4),
                            contrast=(0.6, 1.4), saturation=(0.8, 1.2),
                            hue=(-0.1, 0.1), gray_prob=0.2, blur_prob=0.5,
                            blur_sigma=(0.1, 2.0), solarize_prob=0.2)
#: Draws that change nothing.
NO_AUGMENTATION = dict(RELEASE_AUGMENTATION, jitter_prob=0., gray_prob=0.,
                       blur_prob=0., solarize_prob=0.)


def check_augmentation(name: str,
                       augmentation: Optional[dict]) -> Optional[dict]:
    """Validate a recipe (keys of :data:`RELEASE_AUGMENTATION`; missing keys
    take the release's values) and return it complete; None stays None.

    Raises:
        ValueError: naming ``name`` and an unknown key or a value out of
        its range.
    """
    if augmentation is None:
        return None
    if not isinstance(augmentation, dict):
        raise ValueError(f'{name} must be a dict of '
                         f'{sorted(RELEASE_AUGMENTATION)} (or None for no '
                         f'augmentation), got {augmentation!r}.')
    unknown = sorted(set(augmentation) - set(RELEASE_AUGMENTATION))
    if unknown:
        hint = (" (the exemplar flip is the pair's exemplar_flip_prob)"
                if 'flip_prob' in unknown else '')
        raise ValueError(f'{name} has unknown keys {unknown}{hint}; known: '
                         f'{sorted(RELEASE_AUGMENTATION)}.')
    recipe = {**RELEASE_AUGMENTATION, **augmentation}
    for key, value in recipe.items():
        if key.endswith('_prob'):
            check_prob(f'{name}: {key}', value)
    for key in ('brightness', 'contrast', 'saturation'):
        check_range(f'{name}: {key} range', recipe[key], 0, math.inf, False)
    check_range(f'{name}: hue range', recipe['hue'], -0.5, 0.5, False)
    check_range(f'{name}: blur_sigma range', recipe['blur_sigma'], 0,
                math.inf, True)
    return recipe


def draw_exemplar_photometric(rng: np.random.Generator, num: int,
                              **augmentation) -> np.ndarray:
    """Draw ``num`` exemplars' photometric parameters, independently.

    Each operation runs where a uniform draw is below its probability; the
    factors, the hue shift and sigma are uniform in their ranges (as
    torchvision's ``uniform_``); the order is a uniform permutation (as its
    ``randperm(4)``). Every value is drawn whatever runs, then neutralised,
    so the generator's stream does not depend on the draws.

    Args:
        rng (np.random.Generator): The source of randomness.
        num (int): Exemplars to draw for.
        **augmentation: the recipe, keys of :data:`RELEASE_AUGMENTATION`
            (the release's values for missing keys): ``jitter_prob``,
            ``brightness``/``contrast``/``saturation`` factor ranges,
            ``hue`` range within [-0.5, 0.5], ``gray_prob``, ``blur_prob``,
            ``blur_sigma`` range (> 0), ``solarize_prob``.

    Returns:
        np.ndarray: (num, EXEMPLAR_PARAM_DIM) float32, the module's layout,
        with FLIP 0 (the pair transform draws the flips).
    """
    return draw_checked(rng, num,
                        check_augmentation('augmentation', augmentation))


def draw_checked(rng: np.random.Generator, num: int,
                 recipe: dict) -> np.ndarray:
    """:func:`draw_exemplar_photometric` with a complete recipe that
    :func:`check_augmentation` returned (not checked again: the worker
    draws for every sample)."""
    jitter = rng.random(num) < recipe['jitter_prob']
    order = rng.permuted(np.tile(np.arange(4), (num, 1)), axis=1)
    factors = np.stack([
        rng.uniform(*recipe[key], num)
        for key in ('brightness', 'contrast', 'saturation', 'hue')
    ], 1)
    gray = rng.random(num) < recipe['gray_prob']
    blur = rng.random(num) < recipe['blur_prob']
    sigma = rng.uniform(*recipe['blur_sigma'], num)
    solarize = rng.random(num) < recipe['solarize_prob']

    params = np.zeros((num, EXEMPLAR_PARAM_DIM), dtype=np.float32)
    params[:, JITTER] = jitter
    params[:, ORDER] = np.where(jitter[:, None], order, np.arange(4))
    params[:, BRIGHTNESS:HUE + 1] = np.where(jitter[:, None], factors,
                                             [1., 1., 1., 0.])
    params[:, GRAY] = gray
    params[:, BLUR] = blur
    params[:, BLUR_SIGMA] = np.where(blur, sigma, 0.)
    params[:, SOLARIZE] = solarize
    return params
