"""ImageNet-C: the 15 corruptions and the mean corruption error (mCE).

Hendrycks & Dietterich (ICLR 2019): with E_{s,c}(f) the top-1 error of
model f on corruption c at severity s (1..5),

    CE_c(f) = sum_s E_{s,c}(f) / sum_s E_{s,c}(AlexNet),
    mCE(f)  = mean over the 15 corruptions of CE_c(f).

AlexNet's errors ship as data (``alexnet_imagenet_c_errors.json``, with
their source): the per-corruption means over the 5 severities, which give
the same ratio as the sums.
"""
import functools
import json
import os.path as osp
from typing import Dict, Mapping, Sequence

__all__ = [
    'CORRUPTIONS', 'SEVERITIES', 'ALEXNET_ERRORS_FILE', 'alexnet_errors',
    'corruption_errors'
]

#: The 15 corruptions of the benchmark, in the paper's order (noise, blur,
#: weather, digital). The 4 extra corruptions of the release (speckle_noise,
#: gaussian_blur, spatter, saturate) are not part of mCE.
CORRUPTIONS = ('gaussian_noise', 'shot_noise', 'impulse_noise',
               'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
               'snow', 'frost', 'fog', 'brightness', 'contrast',
               'elastic_transform', 'pixelate', 'jpeg_compression')
SEVERITIES = (1, 2, 3, 4, 5)
ALEXNET_ERRORS_FILE = osp.join(
    osp.dirname(__file__), 'alexnet_imagenet_c_errors.json')


@functools.lru_cache(maxsize=None)
def _alexnet_file() -> dict:
    with open(ALEXNET_ERRORS_FILE) as f:
        return json.load(f)


def alexnet_errors() -> Dict[str, float]:
    """AlexNet's error (fraction) per corruption, mean over severities."""
    errors = dict(_alexnet_file()['errors'])
    if set(errors) != set(CORRUPTIONS):
        raise ValueError(f'{ALEXNET_ERRORS_FILE} must list exactly the 15 '
                         f'corruptions {CORRUPTIONS}')
    return errors


def alexnet_errors_source() -> str:
    """Where :func:`alexnet_errors` come from."""
    return _alexnet_file()['source']


def corruption_errors(errors: Mapping[str, Sequence[float]],
                      reference: Mapping[str, float] = None) -> dict:
    """Corruption errors and mCE.

    Args:
        errors (Mapping[str, Sequence[float]]): per corruption, the model's
            top-1 errors (fractions) at the 5 severities.
        reference (Mapping[str, float], optional): per corruption, the
            reference model's mean error over the severities. Defaults to
            AlexNet's (:func:`alexnet_errors`).

    Returns:
        dict: ``ce`` (corruption -> CE_c, a fraction), ``mce`` (their mean)
        and ``mean_error`` (corruption -> mean error over severities).
    """
    reference = alexnet_errors() if reference is None else reference
    missing = [c for c in CORRUPTIONS if c not in errors]
    if missing:
        raise ValueError(f'mCE needs all 15 corruptions; missing {missing}')
    ce, mean_error = {}, {}
    for name in CORRUPTIONS:
        model_errors = list(errors[name])
        if len(model_errors) != len(SEVERITIES):
            raise ValueError(f'{name}: expected errors at the 5 severities, '
                             f'got {len(model_errors)}')
        mean_error[name] = sum(model_errors) / len(model_errors)
        # sum_s E_s,c(f) / sum_s E_s,c(AlexNet), with AlexNet's sum being
        # 5 x its mean
        ce[name] = sum(model_errors) / (len(SEVERITIES) * reference[name])
    return dict(ce=ce, mce=sum(ce.values()) / len(ce), mean_error=mean_error)
