"""Draw the random values of the exemplar photometric augmentation
(torchvision definitions).

:func:`draw_exemplar_photometric` draws, in the dataloader worker, what the
authors' release draws per exemplar, independently for each exemplar:
torchvision's ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` applied with p=0.8 (a
random order of its four adjustments, then a factor for each),
``RandomGrayscale(p=0.2)``, a Gaussian blur with sigma in [0.1, 2.0] with
p=0.5, a solarize (threshold fixed, not drawn) with p=0.2 and a horizontal
flip with p=0.5. The pixels are changed elsewhere, on a whole batch, by
:func:`cim_mm.models.utils.exemplar_photometric.apply_exemplar_photometric`.

It draws from a ``numpy.random.Generator`` (the worker seeds one per sample),
not from torch's global RNG as torchvision's transforms do: the values are
the same distributions, not the same numbers.

Layout of one exemplar's parameter vector (``EXEMPLAR_PARAM_DIM`` = 14
float32 values; the indices are the module constants below):

==========  =====  ==========================================================
name        index  value
==========  =====  ==========================================================
JITTER      0      1 if the colour jitter runs, else 0
ORDER       1-4    the order of its adjustments, a permutation of 0
                   brightness, 1 contrast, 2 saturation, 3 hue (as
                   torchvision's ``ColorJitter`` numbers them); 0, 1, 2, 3
                   when the jitter does not run
BRIGHTNESS  5      brightness factor; 1 when the jitter does not run
CONTRAST    6      contrast factor; 1 likewise
SATURATION  7      saturation factor; 1 likewise
HUE         8      hue shift, a fraction of the hue circle; 0 likewise
GRAY        9      1 if the grayscale runs, else 0
BLUR        10     1 if the Gaussian blur runs, else 0
BLUR_SIGMA  11     its sigma in pixels; 0 when it does not run
SOLARIZE    12     1 if the solarize runs, else 0
FLIP        13     1 if the exemplar is flipped horizontally, else 0
==========  =====  ==========================================================

Operations that do not run carry neutral values (factor 1, shift 0,
sigma 0, identity order), so a vector reads the same whoever applies it.
"""
from typing import Tuple

import numpy as np

JITTER = 0
ORDER = slice(1, 5)
BRIGHTNESS, CONTRAST, SATURATION, HUE = 5, 6, 7, 8
GRAY = 9
BLUR, BLUR_SIGMA = 10, 11
SOLARIZE = 12
FLIP = 13
EXEMPLAR_PARAM_DIM = 14

#: The authors' release (``../shared/reference/cim-facts.md``).
JITTER_PROB = 0.8
BRIGHTNESS_RANGE = (0.6, 1.4)  # ColorJitter(brightness=0.4): 1 -+ 0.4
CONTRAST_RANGE = (0.6, 1.4)
SATURATION_RANGE = (0.8, 1.2)
HUE_RANGE = (-0.1, 0.1)
GRAY_PROB = 0.2
BLUR_PROB = 0.5
BLUR_SIGMA_RANGE = (0.1, 2.0)
SOLARIZE_PROB = 0.2
FLIP_PROB = 0.5

#: The release's recipe in :func:`draw_exemplar_photometric`'s words (the
#: flip aside: the pair transform owns it, as ``exemplar_flip_prob``).
RELEASE_AUGMENTATION = dict(jitter_prob=JITTER_PROB,
                            brightness=BRIGHTNESS_RANGE,
                            contrast=CONTRAST_RANGE,
                            saturation=SATURATION_RANGE,
                            hue=HUE_RANGE,
                            gray_prob=GRAY_PROB,
                            blur_prob=BLUR_PROB,
                            blur_sigma=BLUR_SIGMA_RANGE,
                            solarize_prob=SOLARIZE_PROB)


def draw_exemplar_photometric(rng: np.random.Generator,
                              num: int,
                              jitter_prob: float = JITTER_PROB,
                              brightness: Tuple[float,
                                                float] = BRIGHTNESS_RANGE,
                              contrast: Tuple[float, float] = CONTRAST_RANGE,
                              saturation: Tuple[float,
                                                float] = SATURATION_RANGE,
                              hue: Tuple[float, float] = HUE_RANGE,
                              gray_prob: float = GRAY_PROB,
                              blur_prob: float = BLUR_PROB,
                              blur_sigma: Tuple[float,
                                                float] = BLUR_SIGMA_RANGE,
                              solarize_prob: float = SOLARIZE_PROB,
                              flip_prob: float = FLIP_PROB) -> np.ndarray:
    """Draw ``num`` exemplars' photometric parameters, independently.

    Each operation runs where a uniform draw in [0, 1) is below its
    probability; the factors and sigma are uniform in their ``(low,
    high)`` ranges (as ``torch.empty(1).uniform_(low, high)`` in
    torchvision's ``ColorJitter`` and ``GaussianBlur``); the order is a
    uniformly random permutation per exemplar (``torch.randperm(4)`` in
    ``ColorJitter``). Every call makes the same RNG calls whatever is
    drawn (all values are drawn, then neutralised where an operation does
    not run), so the stream stays aligned.

    Args:
        rng (np.random.Generator): The source of randomness (e.g. seeded
            per sample in the worker).
        num (int): Exemplars to draw for.
        jitter_prob (float): Probability of the colour jitter.
        brightness, contrast, saturation (tuple): Factor ranges; a range
            ``(1, 1)`` switches the adjustment off (factor 1).
        hue (tuple): Hue shift range, in [-0.5, 0.5].
        gray_prob, blur_prob, solarize_prob, flip_prob (float):
            Probabilities of the grayscale, blur, solarize and flip.
        blur_sigma (tuple): Sigma range of the blur, > 0.

    Returns:
        np.ndarray: (num, EXEMPLAR_PARAM_DIM) float32, the layout of the
        module docstring.
    """
    if not (-0.5 <= hue[0] <= hue[1] <= 0.5):
        raise ValueError(f'hue range {hue} is not within [-0.5, 0.5]')
    if not (0 < blur_sigma[0] <= blur_sigma[1]):
        raise ValueError(f'blur sigma range {blur_sigma} must be positive')
    for name, (low, high) in (('brightness', brightness),
                              ('contrast', contrast), ('saturation',
                                                       saturation)):
        if not 0 <= low <= high:
            raise ValueError(f'{name} range {(low, high)} is invalid')
    params = np.zeros((num, EXEMPLAR_PARAM_DIM), dtype=np.float32)
    jitter = rng.random(num) < jitter_prob
    order = rng.permuted(np.tile(np.arange(4), (num, 1)), axis=1)
    factors = np.stack([
        rng.uniform(low, high, num)
        for low, high in (brightness, contrast, saturation, hue)
    ], 1)
    gray = rng.random(num) < gray_prob
    blur = rng.random(num) < blur_prob
    sigma = rng.uniform(blur_sigma[0], blur_sigma[1], num)
    solarize = rng.random(num) < solarize_prob
    flip = rng.random(num) < flip_prob

    params[:, JITTER] = jitter
    params[:, ORDER] = np.where(jitter[:, None], order, np.arange(4))
    params[:, BRIGHTNESS:HUE + 1] = np.where(jitter[:, None], factors,
                                             [1., 1., 1., 0.])
    params[:, GRAY] = gray
    params[:, BLUR] = blur
    params[:, BLUR_SIGMA] = np.where(blur, sigma, 0.)
    params[:, SOLARIZE] = solarize
    params[:, FLIP] = flip
    return params


def check_augmentation(name: str, augmentation: dict) -> dict:
    """Validate an augmentation config: the keyword arguments of
    :func:`draw_exemplar_photometric` other than ``num`` and
    ``flip_prob`` (the keys of :data:`RELEASE_AUGMENTATION`); missing keys
    take the release's values. Returns the complete dict.

    Raises:
        ValueError: naming an unknown key, or a value out of its range.
    """
    if not isinstance(augmentation, dict):
        raise ValueError(f'{name} must be a dict of '
                         f'{sorted(RELEASE_AUGMENTATION)} (or None for no '
                         f'augmentation), got {augmentation!r}.')
    unknown = sorted(set(augmentation) - set(RELEASE_AUGMENTATION))
    if unknown:
        hint = (' (the exemplar flip is the pair\'s exemplar_flip_prob)'
                if 'flip_prob' in unknown else '')
        raise ValueError(f'{name} has unknown keys {unknown}{hint}; known: '
                         f'{sorted(RELEASE_AUGMENTATION)}.')
    complete = {**RELEASE_AUGMENTATION, **augmentation}
    for key, value in complete.items():
        if key.endswith('_prob') and not 0 <= value <= 1:
            raise ValueError(f'{name}: {key}={value!r} is not a '
                             f'probability in [0, 1].')
    try:
        draw_exemplar_photometric(np.random.default_rng(0), 1, **complete)
    except ValueError as error:
        raise ValueError(f'{name}: {error}') from None
    return complete
