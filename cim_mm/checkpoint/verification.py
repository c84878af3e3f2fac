"""Build the model a converted state dict is for, and load it strictly.

The converter (``tools/model_converters/convert_cim.py``) and its tests use
:func:`build_target_model` (random init, architecture read from the weights)
and :func:`verify_conversion` (which keys were missing or left unused).
"""
import re
from typing import Iterable, Mapping, Optional, Tuple

import torch

from .key_maps import (TARGETS, CheckpointConversionError, backbone_kind,
                       resnet_depth, vit_arch)

__all__ = [
    'default_num_heads', 'timm_model_args', 'build_target_model',
    'verify_conversion'
]

# timm ViTs whose defaults match a converted state dict without kwargs.
_TIMM_VITS = {
    'vit_small_patch16_224': dict(embed_dim=384, depth=12, num_heads=6),
    'vit_base_patch16_224': dict(embed_dim=768, depth=12, num_heads=12),
    'vit_large_patch16_224': dict(embed_dim=1024, depth=24, num_heads=16),
}


def default_num_heads(embed_dims: int) -> int:
    """64-d heads, as ViT-S/B/L (the weights do not say)."""
    return max(1, embed_dims // 64)


def timm_model_args(backbone: Mapping[str, torch.Tensor],
                    arch: Optional[str] = None,
                    num_heads: Optional[int] = None) -> Tuple[str, dict]:
    """``(model_name, kwargs)`` of the ``timm.create_model`` call that
    builds the model an mmpretrain backbone state dict converts to."""
    if backbone_kind(backbone) == 'resnet':
        return arch or f'resnet{resnet_depth(backbone)}', {}
    a = vit_arch(backbone)
    shape = dict(embed_dim=a['embed_dims'], depth=a['num_layers'])
    if arch is None:
        arch = next((name for name, cfg in _TIMM_VITS.items() if {
            k: cfg[k]
            for k in shape
        } == shape), 'vit_base_patch16_224')
    standard = _TIMM_VITS.get(arch, {})
    if any(standard.get(k) != v for k, v in shape.items()):
        standard = {}  # a custom width or depth: no default heads to keep
    heads = num_heads or standard.get('num_heads') or default_num_heads(
        a['embed_dims'])
    kwargs = dict(shape,
                  num_heads=heads,
                  mlp_ratio=a['feedforward_channels'] / a['embed_dims'],
                  patch_size=a['patch_size'],
                  img_size=a['img_size'])
    defaults = dict(standard, mlp_ratio=4.0, patch_size=16, img_size=224)
    return arch, {k: v for k, v in kwargs.items() if defaults.get(k) != v}


def build_target_model(to: str,
                       backbone: Mapping[str, torch.Tensor],
                       num_heads: Optional[int] = None,
                       arch: Optional[str] = None,
                       **overrides) -> torch.nn.Module:
    """The randomly initialised model a converted state dict is for.

    Args:
        to (str): 'mmpretrain', 'mmseg' or 'timm'.
        backbone (Mapping): The mmpretrain backbone state dict (before
            conversion): it gives the architecture.
        num_heads (int, optional): ViT heads (not in the weights); defaults
            to 64-d heads.
        arch (str, optional): timm model name (``to='timm'``).
        **overrides: Extra constructor arguments (e.g. ``out_indices``).
    """
    if to not in TARGETS:
        raise ValueError(f'to must be one of {TARGETS}, got {to!r}')
    kind = backbone_kind(backbone)
    if to == 'timm':
        import timm
        name, kwargs = timm_model_args(backbone, arch, num_heads)
        return timm.create_model(name, pretrained=False, **kwargs, **overrides)
    if kind == 'resnet':
        depth = resnet_depth(backbone)
        if to == 'mmpretrain':
            from mmpretrain.models import ResNet
            return ResNet(depth=depth,
                          **dict(dict(out_indices=(3, )), **overrides))
        from mmseg.models.backbones import ResNet
        return ResNet(depth=depth, **overrides)

    a = vit_arch(backbone)
    heads = num_heads or default_num_heads(a['embed_dims'])
    if to == 'mmpretrain':
        from mmpretrain.models import VisionTransformer
        kwargs = dict(
            arch=dict(embed_dims=a['embed_dims'],
                      num_layers=a['num_layers'],
                      num_heads=heads,
                      feedforward_channels=a['feedforward_channels']),
            img_size=a['img_size'],
            patch_size=a['patch_size'],
            final_norm=a['final_norm'],
            out_type='avg_featmap' if a['avg_featmap_norm'] else 'raw')
        kwargs.update(overrides)
        return VisionTransformer(**kwargs)

    from mmseg.models.backbones import MAE
    if a['feedforward_channels'] % a['embed_dims']:
        raise CheckpointConversionError(
            f"mmseg's MAE needs an integer MLP ratio; the ViT has "
            f"{a['feedforward_channels']} MLP channels for "
            f"{a['embed_dims']}-d tokens.")
    kwargs = dict(img_size=a['img_size'],
                  patch_size=a['patch_size'],
                  embed_dims=a['embed_dims'],
                  num_layers=a['num_layers'],
                  num_heads=heads,
                  mlp_ratio=a['feedforward_channels'] // a['embed_dims'],
                  norm_cfg=dict(type='LN', eps=1e-6),
                  final_norm=a['final_norm'],
                  init_values=1.0)
    kwargs.update(overrides)
    return MAE(**kwargs)


def verify_conversion(
    model: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    expected_missing: Iterable[str] = ()
) -> dict:
    """Load ``state_dict`` into ``model`` (``strict=False``) and sort the
    outcome.

    Returns:
        dict: ``missing`` (unexpectedly missing), ``expected_missing``,
        ``unexpected`` (lists of key names) and ``ok`` (no missing and no
        unexpected key). A shape mismatch raises
        :class:`CheckpointConversionError`.
    """
    patterns = [re.compile(p) for p in expected_missing]
    try:
        result = model.load_state_dict(dict(state_dict), strict=False)
    except RuntimeError as err:
        raise CheckpointConversionError(
            f'The converted weights do not fit {type(model).__name__}: '
            f'{err}') from err
    missing = [
        k for k in result.missing_keys
        if not any(p.search(k) for p in patterns)
    ]
    expected = [k for k in result.missing_keys if k not in missing]
    return dict(missing=missing,
                expected_missing=expected,
                unexpected=list(result.unexpected_keys),
                ok=not missing and not result.unexpected_keys)
