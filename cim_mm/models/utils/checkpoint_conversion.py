"""Conversion of CIM checkpoints to mmpretrain, mmsegmentation and timm.

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

:func:`build_target_model` and :func:`verify_conversion` build the target
model (random init) and load a converted state dict into it; the converter
(``tools/model_converters/convert_cim.py``) and its tests share them.
"""
import errno
import math
import os.path as osp
import pickle
import re
from collections import Counter
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from cim_mm.compat import UntrustedCheckpointError

__all__ = [
    'CheckpointConversionError', 'load_weights_only', 'source_state_dict',
    'encoder_state_dict', 'backbone_kind', 'mmpretrain_backbone', 'vit_arch',
    'resnet_depth', 'mmpretrain_to_mmseg', 'mmpretrain_to_timm',
    'timm_model_args', 'build_target_model', 'expected_missing_keys',
    'verify_conversion', 'TARGETS', 'ENCODER_PREFIXES'
]

TARGETS = ('mmpretrain', 'mmseg', 'timm')
ENCODER_PREFIXES = {'online': 'backbone.', 'target': 'target_backbone.'}


class CheckpointConversionError(ValueError):
    """A checkpoint cannot be converted (wrong content, unknown keys)."""


# ---------------------------------------------------------------------------
# Reading: weights only
# ---------------------------------------------------------------------------
# The non-tensor objects an mmengine 0.10.7 runner checkpoint pickles (its
# message hub's HistoryBuffers hold numpy arrays and scalars), as reported by
# torch.serialization.get_unsafe_globals_in_checkpoint, and nothing else.
#
# Why ``builtins.getattr`` is acceptable here: torch's weights-only unpickler
# executes a REDUCE (a call) only when the callable itself is allowlisted,
# and resolves a GLOBAL only for allowlisted names. ``getattr`` can therefore
# only fetch attributes of objects the unpickler was already allowed to
# build (these classes, tensors, containers); whatever it fetches, e.g. a
# method, a function's ``__globals__`` or ``os.system`` reached through
# them, is refused as soon as the pickle tries to call it, because it is
# not on the allowlist. tests/test_tools/test_convert_cim.py checks that with
# a pickle that walks to ``os.system`` through getattr.
RUNNER_CHECKPOINT_GLOBALS = [
    (np.dtype, 'numpy.dtype'),
    (np.ndarray, 'numpy.ndarray'),
    (np.core.multiarray.scalar, 'numpy.core.multiarray.scalar'),
    (np.core.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (getattr, 'builtins.getattr'),
]
# A pickled numpy dtype is rebuilt (BUILD, i.e. ``__setstate__``) as an
# instance of its concrete class, e.g. ``numpy.dtypes.Float64DType``; those
# classes are never called, only given back the dtype's plain state.
RUNNER_CHECKPOINT_GLOBALS += [
    type(np.dtype(name))
    for name in ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'float16',
                 'float32', 'float64')
]


def load_weights_only(path: str) -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Besides tensors and containers, only the objects of
    :data:`RUNNER_CHECKPOINT_GLOBALS` are accepted.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UntrustedCheckpointError: the file pickles anything else.
        CheckpointConversionError: the file is not a torch checkpoint.
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(errno.ENOENT,
                                f'Checkpoint file not found: {path}', path)
    try:
        with torch.serialization.safe_globals(RUNNER_CHECKPOINT_GLOBALS):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' not in str(err):
            raise CheckpointConversionError(
                f"Cannot read '{path}' as a torch checkpoint: {err}") from err
        reason = str(err).split('WeightsUnpickler error:', 1)[-1].strip()
        reason = reason.split('\n', 1)[0].split('. ', 1)[0]
        raise UntrustedCheckpointError(
            f"Refused to read '{path}': it pickles Python objects other than "
            'tensors and the mmengine/numpy types of a runner checkpoint '
            f'({reason}). Only weights are read from checkpoints to convert; '
            'a file that needs more is not a CIM or mmpretrain checkpoint, '
            'or must not be trusted.') from err
    except (RuntimeError, EOFError) as err:
        raise CheckpointConversionError(
            f"Cannot read '{path}' as a torch checkpoint: {err}") from err


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


def _describe_prefixes(keys: Iterable[str]) -> str:
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
        f'{_describe_prefixes(state_dict)}.')
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
        f'{_describe_prefixes(backbone)}.')


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


# ---------------------------------------------------------------------------
# Target models and verification
# ---------------------------------------------------------------------------
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


def expected_missing_keys(to: str, kind: str) -> List[str]:
    """Patterns of target keys a converted backbone may leave missing."""
    if to == 'timm':
        return [r'^head\.'] if kind == 'vit' else [r'^fc\.']
    if to == 'mmseg' and kind == 'vit':
        # MAE's relative position bias: zeros (no bias, as the plain ViT)
        # and its index buffer, computed from img_size.
        return [r'^layers\.\d+\.attn\.relative_position_(bias_table|index)$']
    return []


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
