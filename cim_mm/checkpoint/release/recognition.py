"""What a file is: a CIM release checkpoint (pre-trained or fine-tuned),
its encoder and decoder shapes, or which other kind of checkpoint, named in
the error.

Pure functions on state dicts (as :mod:`cim_mm.checkpoint.key_maps`); see
:mod:`cim_mm.checkpoint.release` for the two kinds of release state dict.
"""
import math
import re
from collections.abc import Mapping
from typing import Optional

import torch

from ..key_maps import (CheckpointConversionError, describe_prefixes,
                        source_state_dict)

__all__ = [
    'ReleaseCheckpointError', 'RELEASE_ARCHS', 'RELEASE_DECODER_NUM_HEADS',
    'DECODER_BLOCK', 'PREDICTOR', 'release_state_dict', 'release_kind',
    'block_count', 'release_arch', 'release_decoder_arch'
]

# embed_dims -> (the release's arch name, num_heads): its tiny, small, base,
# large and huge ViTs (huge has 14 px patches). Heads are not in the weights.
RELEASE_ARCHS = {
    192: ('tiny', 3),
    384: ('small', 6),
    768: ('base', 12),
    1024: ('large', 16),
    1280: ('huge', 16),
}
RELEASE_DECODER_NUM_HEADS = 16  # every release arch: 512-d, 16 heads

#: Key prefixes of the release's one correlation block and of its 2-class
#: predictor.
DECODER_BLOCK = 'decoder_corr_block.block.'
PREDICTOR = 'decoder_pred_mask.0.'
_EXPECTED = {
    'pre-trained': ('a CIM release pre-training checkpoint (cls_token, '
                    'pos_embed, patch_embed.*, blocks.*, norm.*, '
                    'patch_embed_c.*, blocks_c.*, norm_c.*, decoder_*)'),
    'fine-tuned': ('a CIM release fine-tuned ViT (cls_token, pos_embed, '
                   'patch_embed.*, blocks.*, fc_norm.*, head.*)'),
}


class ReleaseCheckpointError(CheckpointConversionError):
    """A file is not a CIM release checkpoint this converter can take."""


def _expected() -> str:
    return f"Expected {_EXPECTED['pre-trained']} or {_EXPECTED['fine-tuned']}"


def release_state_dict(checkpoint, source: str = 'checkpoint') -> dict:
    """The state dict of a release checkpoint: under ``'model'`` (the
    release's ``save_model``), under ``'state_dict'`` or at the top level."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get('model'),
                                                      Mapping):
        checkpoint = checkpoint['model']
    try:
        return source_state_dict(checkpoint, source)
    except CheckpointConversionError:
        found = (describe_prefixes(checkpoint) if isinstance(
            checkpoint, Mapping) else type(checkpoint).__name__)
        raise ReleaseCheckpointError(
            f"'{source}' holds no state dict (found: {found}). {_expected()}"
            ", saved as {'model': state_dict, ...}, {'state_dict': ...} or "
            'a bare state dict.') from None


def release_kind(state: Mapping[str, torch.Tensor],
                 source: str = 'checkpoint') -> str:
    """'pre-trained' or 'fine-tuned'; any other checkpoint (cim_mm, MAE,
    timm, mmpretrain) is a :class:`ReleaseCheckpointError` saying what it
    looks like."""
    keys = set(state)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    found = f'Found: {describe_prefixes(keys)}.'
    if has('module.'):
        raise ReleaseCheckpointError(
            f"'{source}' has 'module.*' keys (a DDP-wrapped model): the "
            "release saves the unwrapped model. Strip the 'module.' prefix "
            f'first. {found}')
    if has('backbone.') or has('target_backbone.') or has('neck.'):
        what = ('a cim_mm CIM checkpoint: use it as it is (configs/'
                'cim_vitb_300e.py) or tools/model_converters/convert_cim.py'
                if has('neck.') or has('target_backbone.') else
                'an mmpretrain model checkpoint (already converted): load '
                'it with its config')
        raise ReleaseCheckpointError(
            f"'{source}' is {what}, not a CIM release checkpoint. "
            f'{_expected()}. {found}')
    if has('layers.') or 'patch_embed.projection.weight' in keys:
        raise ReleaseCheckpointError(
            f"'{source}' is an mmpretrain backbone (layers.*, "
            'patch_embed.projection.*): already converted, load it with '
            "init_cfg=dict(type='Pretrained'). "
            f'{_expected()}. {found}')
    if has('mask_token') or has('decoder_blocks.') or has('decoder_pred.'):
        raise ReleaseCheckpointError(
            f"'{source}' is an MAE pre-training checkpoint (mask_token, "
            'decoder_blocks.*, decoder_pred.*), not CIM: it has no '
            f'correlation decoder. {_expected()}. {found}')
    if not (has('blocks.') and 'cls_token' in keys and 'pos_embed' in keys
            and 'patch_embed.proj.weight' in keys):
        raise ReleaseCheckpointError(
            f"'{source}' is not a timm-style ViT state dict (no cls_token, "
            f'pos_embed, patch_embed.proj.*, blocks.*). {_expected()}. '
            f'{found}')
    if has('blocks_c.') or has(DECODER_BLOCK) or has('decoder_embed.'):
        missing = [
            k for k in ('norm.weight', 'patch_embed_c.proj.weight',
                        'norm_c.weight', 'decoder_embed.weight',
                        'decoder_pos_embed', DECODER_BLOCK + 'norm1.weight',
                        'decoder_norm.weight', PREDICTOR + 'weight')
            if k not in keys
        ] + ([] if has('blocks_c.') else ['blocks_c.*'])
        if missing:
            raise ReleaseCheckpointError(
                f"'{source}' looks like a CIM release pre-training "
                f'checkpoint but lacks {missing}. {_expected()}. {found}')
        return 'pre-trained'
    if 'fc_norm.weight' in keys and 'head.weight' in keys:
        return 'fine-tuned'
    if 'head.weight' in keys:
        raise ReleaseCheckpointError(
            f"'{source}' is a timm ViT classifier with cls-token pooling "
            "(norm.*, head.*, no fc_norm.*): the release's fine-tuned ViT "
            'pools globally (fc_norm.*), which is what configs/finetune/'
            'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py builds. '
            f'{_expected()}. {found}')
    raise ReleaseCheckpointError(
        f"'{source}' is a timm ViT backbone without a CIM decoder "
        '(decoder_*) or a classifier head (fc_norm.*, head.*), e.g. the '
        'output of convert_cim.py --to timm or a timm model. '
        f'{_expected()}. {found}')


def block_count(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    indices = {
        int(m.group(1))
        for m in map(re.compile(re.escape(prefix) + r'(\d+)\.').match, state)
        if m
    }
    if indices != set(range(len(indices))):
        raise ReleaseCheckpointError(
            f'{prefix}* has blocks {sorted(indices)}: not 0..N-1.')
    return len(indices)


def release_arch(state: Mapping[str, torch.Tensor],
                 num_heads: Optional[int] = None) -> dict:
    """The encoder of a release state dict: ``embed_dims``, ``num_layers``,
    ``num_heads`` (the release arch of that width unless given),
    ``feedforward_channels``, ``patch_size``, ``img_size``, ``name``."""
    embed_dims = state['cls_token'].shape[-1]
    patch_size = state['patch_embed.proj.weight'].shape[-1]
    num_layers = block_count(state, 'blocks.')
    if num_layers == 0:
        raise ReleaseCheckpointError('The encoder has no blocks.*.')
    num_tokens = state['pos_embed'].shape[1] - 1
    grid = math.isqrt(num_tokens)
    if grid * grid != num_tokens:
        raise ReleaseCheckpointError(
            f'pos_embed {tuple(state["pos_embed"].shape)} has {num_tokens} '
            'patch positions: not a square grid plus a cls slot.')
    name, heads = RELEASE_ARCHS.get(embed_dims, (None, None))
    if num_heads is None:
        if heads is None:
            raise ReleaseCheckpointError(
                f'A {embed_dims}-d encoder is none of the release archs '
                f'(widths {sorted(RELEASE_ARCHS)}): its number of heads is '
                'not in the weights; pass --num-heads.')
        num_heads = heads
    if embed_dims % num_heads:
        raise ReleaseCheckpointError(
            f'{num_heads} heads do not divide {embed_dims}-d tokens.')
    feedforward = state['blocks.0.mlp.fc1.weight'].shape[0]
    expected = {
        'blocks.0.attn.qkv.weight': (3 * embed_dims, embed_dims),
        'blocks.0.mlp.fc2.weight': (embed_dims, feedforward),
        'patch_embed.proj.weight': (embed_dims, 3, patch_size, patch_size),
    }
    for key, shape in expected.items():
        if key not in state or tuple(state[key].shape) != shape:
            raise ReleaseCheckpointError(
                f'{key} should be {shape} for a {embed_dims}-d ViT, found '
                f'{tuple(state[key].shape) if key in state else "nothing"}:'
                ' the keys do not fit a release ViT.')
    depth = {'large': 24, 'huge': 32}.get(name, 12)
    standard = (name is not None and num_heads == heads
                and num_layers == depth and feedforward == 4 * embed_dims
                and patch_size == (14 if name == 'huge' else 16))
    return dict(embed_dims=embed_dims,
                num_layers=num_layers,
                num_heads=num_heads,
                feedforward_channels=feedforward,
                patch_size=patch_size,
                img_size=grid * patch_size,
                name=name if standard else None)


def release_decoder_arch(state: Mapping[str, torch.Tensor],
                         num_heads: Optional[int] = None) -> dict:
    """The decoder of a pre-trained release state dict: ``in_channels``,
    ``embed_dim``, ``num_heads``, ``mlp_ratio``, ``context_grid`` (from
    ``decoder_pos_embed``) and ``patch_size``."""
    embed_dim, in_channels = state['decoder_embed.weight'].shape
    num_heads = num_heads or RELEASE_DECODER_NUM_HEADS
    if embed_dim % num_heads or embed_dim % 4:
        raise ReleaseCheckpointError(
            f'A {embed_dim}-d decoder cannot have {num_heads} heads and a 2-D'
            ' sin-cos embedding (multiple of 4); pass --decoder-num-heads.')
    num_tokens = state['decoder_pos_embed'].shape[1] - 1
    grid = math.isqrt(num_tokens)
    if grid * grid != num_tokens:
        raise ReleaseCheckpointError(
            f'decoder_pos_embed {tuple(state["decoder_pos_embed"].shape)}: '
            f'{num_tokens} positions are not a square context grid.')
    predictor = state[PREDICTOR + 'weight']
    if tuple(predictor.shape) != (2, embed_dim, 1, 1):
        raise ReleaseCheckpointError(
            f'{PREDICTOR}weight should be (2, {embed_dim}, 1, 1) (a 1x1 '
            f'conv to 2 classes), found {tuple(predictor.shape)}.')
    other = sorted(k for k in state if k.startswith('decoder_corr_block.')
                   and not k.startswith(DECODER_BLOCK))
    if other:
        raise ReleaseCheckpointError(
            f'decoder_corr_block has keys outside the release\'s single block'
            f" '{DECODER_BLOCK}*': {other[:4]}.")
    feedforward = state[DECODER_BLOCK + 'mlp.fc1.weight'].shape[0]
    return dict(in_channels=in_channels,
                embed_dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=feedforward / embed_dim,
                context_grid=grid,
                patch_size=state['patch_embed.proj.weight'].shape[-1])
