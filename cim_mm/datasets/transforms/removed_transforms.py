"""Names of removed pair transforms, kept so that a config naming one gets
an error that names its replacement."""
from mmpretrain.registry import TRANSFORMS

_PAIR = ("DrawCorrelationalPair (the same geometry arguments; "
         "exemplar_transforms -> exemplar_augmentation=dict(jitter_prob, "
         "brightness, contrast, saturation, hue, gray_prob, blur_prob, "
         "blur_sigma, solarize_prob), the release's recipe by default; "
         "context_transforms -> context_augmentation). Its pairs are built "
         "by one batched function: on the model's device by "
         "CIMDataPreprocessor, or in the DataLoader workers with "
         "collate_fn=dict(type='pair_synthesis_collate')")
REPLACEMENTS = {
    'CorrelationalCrop': _PAIR,
    'CorrelationalPairParams': _PAIR + " (no pixels= any more)",
    'FastColorJitter': ("DrawCorrelationalPair's exemplar_augmentation "
                        "(jitter_prob, brightness, contrast, saturation, "
                        "hue)"),
    'FastGaussianBlur': ("DrawCorrelationalPair's exemplar_augmentation "
                         "(blur_prob, blur_sigma)"),
}


def _removed(name: str, replacement: str) -> type:
    """A registered class that refuses to be built, naming the fix."""

    def __init__(self, *args, **kwargs):
        raise ValueError(f'{name} was removed from cim_mm; use '
                         f'{replacement}.')

    return type(name, (), {'__init__': __init__,
                           '__doc__': f'Removed: use {replacement}.'})


for _name, _replacement in REPLACEMENTS.items():
    TRANSFORMS.register_module(name=_name, module=_removed(_name,
                                                          _replacement))
