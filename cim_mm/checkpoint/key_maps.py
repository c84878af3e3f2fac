"""Key maps of CIM checkpoints to mmpretrain, mmsegmentation and timm.

Pure functions on state dicts (names to tensors): nothing is read from disk
and no model is built here (:mod:`.loading` reads, :mod:`.verification`
builds the target model and loads strictly).

A CIM pre-training checkpoint (an mmengine runner checkpoint) holds the
online encoder under ``backbone.*``, the EMA target under
``target_backbone.*`` and the decoder and loss under ``neck.*`` / ``head.*``.
An mmpretrain ``ImageClassifier`` checkpoint (e.g. after ImageNet
fine-tuning) holds ``backbone.*`` and ``head.*``. Both encoders are an
mmpretrain ``VisionTransformer`` (``CIMViT`` has the same names) or
``ResNet``.

In the style of timm's ``checkpoint_filter_fn``, each target has one
function that maps mmpretrain backbone names to the target's names, and
nothing else happens in it:

* :func:`encoder_state_dict` - the chosen encoder, prefix removed: the
  mmpretrain backbone itself.
* :func:`mmpretrain_to_mmseg` - mmseg's ``MAE`` backbone (ViT) or
  ``ResNet`` (ResNet).
* :func:`mmpretrain_to_timm` - timm's ``VisionTransformer`` / ``ResNet``.
"""
import math
import re
from collections import Counter
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import torch

__all__ = [
    'CheckpointConversionError', 'TARGETS', 'ENCODER_PREFIXES',
    'source_state_dict', 'describe_prefixes', 'encoder_state_dict', 'backbone_kind', 'vit_arch',
    'resnet_depth', 'mmpretrain_backbone', 'mmpretrain_to_mmseg',
    'mmpretrain_to_timm', 'timm_vit_names', 'expected_missing_keys',
    'CONVERTERS'
]

TARGETS = ('mmpretrain', 'mmseg', 'timm')
ENCODER_PREFIXES = {'online': 'backbone.', 'target': 'target_backbone.'}


class CheckpointConversionError(ValueError):
    """A checkpoint cannot be converted (wrong content, unknown keys)."""


def source_state_dict(checkpoint, source: str = 'checkpoint') -> dict:
    """The state dict of a runner checkpoint (``state_dict``) or a plain
    state dict."""
    if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, Mapping) or not checkpoint or not all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointConversionError(
            f"'{source}' holds no state dict: expected a mapping of names to "
            "tensors, at the top level or under 'state_dict'.")
    return dict(checkpoint)


# ---------------------------------------------------------------------------
# Selecting the encoder
# ---------------------------------------------------------------------------
_CONVERTED_MARKERS = ('patch_embed.', 'layers.', 'blocks.', 'cls_token',
                      'conv1.', 'layer1.')


def describe_prefixes(keys: Iterable[str]) -> str:
    """'backbone.* (152), neck.* (20)': the top-level names of state dict
    keys and how many keys each has."""
    counts = Counter(
        key.split('.', 1)[0] + ('.*' if '.' in key else '') for key in keys)
    return ', '.join(f'{name} ({n})' for name, n in sorted(counts.items()))


def encoder_state_dict(state_dict: Mapping[str, torch.Tensor],
                       encoder: str = 'online',
                       source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """The mmpretrain backbone state dict of the online (``backbone.*``) or
    target (``target_backbone.*``) encoder, prefix removed."""
    if encoder not in ENCODER_PREFIXES:
        raise ValueError(f'encoder must be one of {tuple(ENCODER_PREFIXES)},'
                         f' got {encoder!r}')
    prefix = ENCODER_PREFIXES[encoder]
    backbone = {
        key[len(prefix):]: value
        for key, value in state_dict.items() if key.startswith(prefix)
    }
    if backbone:
        return backbone
    message = (
        f"'{source}' has no '{prefix}*' keys, so it holds no {encoder} "
        "encoder. Expected a CIM pre-training checkpoint (backbone.*, "
        'target_backbone.*, neck.*, head.*) or, for the online encoder, an '
        'mmpretrain ImageClassifier checkpoint (backbone.*, head.*). Found: '
        f'{describe_prefixes(state_dict)}.')
    if encoder == 'target' and any(
            k.startswith('backbone.') for k in state_dict):
        message += (" It has an online encoder only (a CIM run with "
                    "bootstrap='shared' or a classifier): use --encoder "
                    'online.')
    elif any(k.startswith(_CONVERTED_MARKERS) for k in state_dict):
        message += (' Its keys look like an already converted backbone '
                    'checkpoint.')
    raise CheckpointConversionError(message)


def backbone_kind(backbone: Mapping[str, torch.Tensor]) -> str:
    """'vit' (mmpretrain VisionTransformer / CIMViT) or 'resnet'."""
    if 'patch_embed.projection.weight' in backbone and 'pos_embed' in backbone:
        return 'vit'
    if 'conv1.weight' in backbone and 'layer1.0.conv1.weight' in backbone:
        return 'resnet'
    raise CheckpointConversionError(
        'The encoder is neither an mmpretrain VisionTransformer (expected '
        "'patch_embed.projection.weight', 'pos_embed', 'layers.*') nor an "
        "mmpretrain ResNet (expected 'conv1.weight', 'layer1.*'). Found: "
        f'{describe_prefixes(backbone)}.')


def vit_arch(backbone: Mapping[str, torch.Tensor]) -> dict:
    """Architecture of an mmpretrain ViT state dict (all but the heads)."""
    embed_dims = backbone['cls_token'].shape[-1]
    patch_size = backbone['patch_embed.projection.weight'].shape[-1]
    num_layers = 1 + max(
        int(m.group(1))
        for m in map(re.compile(r'layers\.(\d+)\.').match, backbone) if m)
    num_tokens = backbone['pos_embed'].shape[1] - 1  # without cls
    grid = math.isqrt(num_tokens)
    if grid * grid != num_tokens:
        raise CheckpointConversionError(
            f'pos_embed has {num_tokens} patch positions: not a square grid.')
    return dict(
        embed_dims=embed_dims,
        num_layers=num_layers,
        feedforward_channels=backbone['layers.0.ffn.layers.0.0.weight'].
        shape[0],
        patch_size=patch_size,
        img_size=grid * patch_size,
        final_norm='ln1.weight' in backbone,
        avg_featmap_norm='ln2.weight' in backbone)


_RESNET_DEPTHS = {
    ((2, 2, 2, 2), False): 18,
    ((3, 4, 6, 3), False): 34,
    ((3, 4, 6, 3), True): 50,
    ((3, 4, 23, 3), True): 101,
    ((3, 8, 36, 3), True): 152,
}


def resnet_depth(backbone: Mapping[str, torch.Tensor]) -> int:
    """Depth of an mmpretrain ResNet state dict."""
    blocks = tuple(
        len({
            key.split('.')[1]
            for key in backbone if key.startswith(f'layer{stage}.')
        }) for stage in (1, 2, 3, 4))
    bottleneck = 'layer1.0.conv3.weight' in backbone
    if (blocks, bottleneck) not in _RESNET_DEPTHS:
        raise CheckpointConversionError(
            f'Unknown ResNet: {blocks} blocks per stage, '
            f"{'bottleneck' if bottleneck else 'basic'} blocks.")
    return _RESNET_DEPTHS[(blocks, bottleneck)]


# ---------------------------------------------------------------------------
# Key conversion, one function per target
# ---------------------------------------------------------------------------
def _rename(backbone: Mapping[str, torch.Tensor],
            rules: List[Tuple[str, Optional[str]]], target: str,
            progress: Optional[Callable[[], None]]) -> Dict[str, torch.Tensor]:
    """Apply the first matching ``(pattern, replacement)`` rule to each key;
    replacement None drops the key; a key no rule matches is an error."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    converted = {}
    for key, value in backbone.items():
        for pattern, repl in compiled:
            if pattern.match(key):
                if repl is not None:
                    converted[pattern.sub(repl, key)] = value
                break
        else:
            raise CheckpointConversionError(
                f"No {target} name for the mmpretrain backbone key '{key}': "
                'this encoder has a layer the conversion does not know.')
        if progress is not None:
            progress()
    return converted


_VIT_TO_MMSEG_MAE = [
    # mmseg's MAE/BEiT layers use mmpretrain's own names ...
    (r'^(cls_token|pos_embed)$', r'\1'),
    (r'^patch_embed\.projection\.', 'patch_embed.projection.'),
    (r'^layers\.(\d+)\.(ln1|ln2|attn\.qkv|attn\.proj)\.', r'layers.\1.\2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.(0\.0|1)\.', r'layers.\1.ffn.layers.\2.'),
    (r'^ln1\.', 'ln1.'),  # the final norm, used by MAE(final_norm=True)
    # ... and have no pooled-feature norm (a fine-tuned classifier's).
    (r'^ln2\.', None),
]
_RESNET_SAME_NAMES = [
    (r'^(conv1|bn1)\.', r'\1.'),
    (r'^layer([1-4])\.(\d+)\.(conv[1-3]|bn[1-3]|downsample\.[01])\.',
     r'layer\1.\2.\3.'),
]


def mmpretrain_backbone(
        backbone: Mapping[str, torch.Tensor],
        progress: Optional[Callable[[],
                                    None]] = None) -> Dict[str, torch.Tensor]:
    """mmpretrain backbone -> mmpretrain backbone: the names stay (the
    encoder is an mmpretrain ``VisionTransformer``/``CIMViT`` or
    ``ResNet``); only checks that it is one of them."""
    backbone_kind(backbone)
    converted = {}
    for key, value in backbone.items():
        converted[key] = value
        if progress is not None:
            progress()
    return converted


def mmpretrain_to_mmseg(
        backbone: Mapping[str, torch.Tensor],
        progress: Optional[Callable[[],
                                    None]] = None) -> Dict[str, torch.Tensor]:
    """mmpretrain ViT -> mmseg ``MAE``; ResNet -> mmseg ``ResNet``.

    The ViT maps exactly onto a ``MAE`` backbone: the same names, layer
    scale ``gamma_1``/``gamma_2`` set to 1 (a plain ViT has none), and no
    relative position bias table (``MAE`` initialises it to zeros: no bias).
    The absolute position embedding is resized by ``MAE`` when it loads
    the checkpoint for another ``img_size``.
    """
    if backbone_kind(backbone) == 'resnet':
        return _rename(backbone, _RESNET_SAME_NAMES, 'mmseg', progress)
    converted = _rename(backbone, _VIT_TO_MMSEG_MAE, 'mmseg', progress)
    embed_dims = backbone['cls_token'].shape[-1]
    for i in range(vit_arch(backbone)['num_layers']):
        for gamma in ('gamma_1', 'gamma_2'):
            converted[f'layers.{i}.{gamma}'] = torch.ones(embed_dims)
    return converted


_VIT_TO_TIMM = [
    (r'^(cls_token|pos_embed)$', r'\1'),
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.attn\.(qkv|proj)\.', r'blocks.\1.attn.\2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
]


def mmpretrain_to_timm(
        backbone: Mapping[str, torch.Tensor],
        progress: Optional[Callable[[],
                                    None]] = None) -> Dict[str, torch.Tensor]:
    """mmpretrain ViT / ResNet -> timm ``VisionTransformer`` / ``ResNet``
    (timm's ResNet has mmpretrain's names)."""
    if backbone_kind(backbone) == 'resnet':
        return _rename(backbone, _RESNET_SAME_NAMES, 'timm', progress)
    if 'ln2.weight' in backbone:
        raise CheckpointConversionError(
            "The ViT has a pooled-feature norm 'ln2' (out_type='avg_featmap')"
            ': converting it to timm is not supported.')
    return _rename(backbone, _VIT_TO_TIMM, 'timm', progress)


def timm_vit_names(mmpretrain_keys: Iterable[str]) -> Dict[str, str]:
    """``{timm name: mmpretrain name}`` for the keys of an mmpretrain ViT
    (the map of :func:`mmpretrain_to_timm`, inverted; no ``ln2``)."""
    return _rename({key: key
                    for key in mmpretrain_keys}, _VIT_TO_TIMM, 'timm', None)


def expected_missing_keys(to: str, kind: str) -> List[str]:
    """Patterns of target keys a converted backbone may leave missing."""
    if to == 'timm':
        return [r'^head\.'] if kind == 'vit' else [r'^fc\.']
    if to == 'mmseg' and kind == 'vit':
        # MAE's relative position bias: zeros (no bias, as the plain ViT)
        # and its index buffer, computed from img_size.
        return [r'^layers\.\d+\.attn\.relative_position_(bias_table|index)$']
    return []


CONVERTERS = {
    'mmpretrain': mmpretrain_backbone,
    'mmseg': mmpretrain_to_mmseg,
    'timm': mmpretrain_to_timm,
}
