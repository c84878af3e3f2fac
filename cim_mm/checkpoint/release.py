"""The CIM authors' release checkpoints as cim_mm / mmpretrain state dicts.

The release (``weivision/Correlational-Image-Modeling``, an MAE-style code
base on timm) saves ``{'model': state_dict, 'optimizer', 'epoch', 'scaler',
'args': argparse.Namespace}``. Two kinds of state dict:

* **pre-trained** ``CorrelationalAutoencoderViT``: the online encoder in timm
  names (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.*``,
  ``norm``), the EMA target as ``patch_embed_c`` / ``blocks_c`` / ``norm_c``
  (sharing the online cls token and position embedding), the correlation
  decoder (``decoder_embed``, ``decoder_pos_embed``, ``decoder_corr_block``,
  ``decoder_norm``, ``decoder_pred_mask.0``) and an unused contrastive
  branch (``decoder_g_embed*``, ``decoder_predictor``);
* **fine-tuned** timm ``VisionTransformer`` with global average pooling
  (``fc_norm``, ``head``).

Pure functions on state dicts, as :mod:`.key_maps`: a pre-trained one
becomes a ``CIM`` state dict (``backbone.*``, ``target_backbone.*``,
``neck.*``) computing the release's function, a fine-tuned one an mmpretrain
``ImageClassifier`` state dict (``backbone.*``, ``head.fc.*``). What is not a
renaming:

* the 2-channel softmax predictor is one sigmoid logit ``W[1] - W[0]``,
  ``b[1] - b[0]`` (class 1 is the exemplar's region; bilinear upsampling is
  linear, so it commutes with the difference);
* the release's 2-D sin-cos table is ``[sin, cos](x), [sin, cos](y)`` and
  mmpretrain's (which :class:`CorrelationDecoder` builds at run time)
  ``[sin, cos](y), [sin, cos](x)``: the decoder's channels are permuted
  (:func:`sincos_channel_order`), which gives the same function;
* the release's decoder block has one LayerNorm for queries and keys/values:
  it is copied into ``norm_query`` and ``norm_key_value``;
* ``decoder_pos_embed`` is checked against the expected table, then dropped.
"""
import math
import re
from collections.abc import Mapping
from typing import Dict, Optional, Tuple

import torch

from .key_maps import (CheckpointConversionError, describe_prefixes,
                       source_state_dict, timm_vit_names)

__all__ = [
    'ReleaseCheckpointError', 'RELEASE_ARCHS', 'RELEASE_DECODER_NUM_HEADS',
    'SINCOS_ATOL', 'release_state_dict', 'release_kind', 'release_arch',
    'release_decoder_arch', 'release_sincos_table', 'sincos_channel_order',
    'convert_pretrained', 'convert_finetuned'
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
# float32 (cim_mm) against float64-then-float32 (release) sin-cos tables
SINCOS_ATOL = 1e-5

_ENCODER = re.compile(r'^(cls_token|pos_embed|patch_embed\.|blocks\.|norm\.)')
_TARGET = re.compile(r'^(patch_embed_c|blocks_c|norm_c)\.')
_CONTRASTIVE = re.compile(r'^(decoder_g_embed|decoder_g_embed_c|'
                          r'decoder_predictor)\.')
_DECODER_BLOCK = 'decoder_corr_block.block.'
# release decoder key (after the block prefix) -> cim_mm neck key and how its
# channels follow the decoder stream: 'out' (rows / a vector on the
# stream), 'in' (columns read from the stream) or None (untouched).
_DECODER_MAP = {
    'decoder_embed.weight': ('embed.weight', 'out'),
    'decoder_embed.bias': ('embed.bias', 'out'),
    'attn.q.weight': ('blocks.0.q.weight', 'in'),
    'attn.q.bias': ('blocks.0.q.bias', None),
    'attn.kv.weight': ('blocks.0.kv.weight', 'in'),
    'attn.kv.bias': ('blocks.0.kv.bias', None),
    'attn.proj.weight': ('blocks.0.proj.weight', 'out'),
    'attn.proj.bias': ('blocks.0.proj.bias', 'out'),
    'norm2.weight': ('blocks.0.norm_ffn.weight', 'out'),
    'norm2.bias': ('blocks.0.norm_ffn.bias', 'out'),
    'mlp.fc1.weight': ('blocks.0.ffn.layers.0.0.weight', 'in'),
    'mlp.fc1.bias': ('blocks.0.ffn.layers.0.0.bias', None),
    'mlp.fc2.weight': ('blocks.0.ffn.layers.1.weight', 'out'),
    'mlp.fc2.bias': ('blocks.0.ffn.layers.1.bias', 'out'),
    'decoder_norm.weight': ('norm.weight', 'out'),
    'decoder_norm.bias': ('norm.bias', 'out'),
}
_SHARED_NORM = ('norm1', ('blocks.0.norm_query', 'blocks.0.norm_key_value'))
_PREDICTOR = 'decoder_pred_mask.0.'
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
    if has('blocks_c.') or has(_DECODER_BLOCK) or has('decoder_embed.'):
        missing = [
            k for k in ('norm.weight', 'patch_embed_c.proj.weight',
                        'norm_c.weight', 'decoder_embed.weight',
                        'decoder_pos_embed', _DECODER_BLOCK + 'norm1.weight',
                        'decoder_norm.weight', _PREDICTOR + 'weight')
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


def _block_count(state: Mapping[str, torch.Tensor], prefix: str) -> int:
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
    num_layers = _block_count(state, 'blocks.')
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
    predictor = state[_PREDICTOR + 'weight']
    if tuple(predictor.shape) != (2, embed_dim, 1, 1):
        raise ReleaseCheckpointError(
            f'{_PREDICTOR}weight should be (2, {embed_dim}, 1, 1) (a 1x1 '
            f'conv to 2 classes), found {tuple(predictor.shape)}.')
    other = sorted(k for k in state if k.startswith('decoder_corr_block.')
                   and not k.startswith(_DECODER_BLOCK))
    if other:
        raise ReleaseCheckpointError(
            f'decoder_corr_block has keys outside the release\'s single block'
            f" '{_DECODER_BLOCK}*': {other[:4]}.")
    feedforward = state[_DECODER_BLOCK + 'mlp.fc1.weight'].shape[0]
    return dict(in_channels=in_channels,
                embed_dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=feedforward / embed_dim,
                context_grid=grid,
                patch_size=state['patch_embed.proj.weight'].shape[-1])


def release_sincos_table(grid: int, dims: int) -> torch.Tensor:
    """The release's fixed (1, 1 + grid**2, dims) 2-D sin-cos table (MAE's
    layout): token (y, x) in raster order is ``[sin(x w), cos(x w),
    sin(y w), cos(y w)]`` with ``w_k = 10000 ** (-k / (dims / 4))``, zeros
    on the cls slot; computed in float64, returned in float32."""
    quarter = dims // 4
    omega = 1. / 10000**(torch.arange(quarter, dtype=torch.float64) / quarter)
    y, x = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                          torch.arange(grid, dtype=torch.float64),
                          indexing='ij')
    x = x.flatten()[:, None] * omega
    y = y.flatten()[:, None] * omega
    table = torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)
    table = torch.cat([torch.zeros(1, dims, dtype=torch.float64), table])
    return table[None].float()


def sincos_channel_order(grid: int, dims: int) -> torch.Tensor:
    """``order`` with ``release_table[..., order] == mmpretrain_table``:
    cim_mm's decoder channel c is the release's channel ``order[c]`` (the
    two halves swapped). Checked against mmpretrain's table."""
    from mmpretrain.models.utils import build_2d_sincos_position_embedding
    half = dims // 2
    order = torch.cat([torch.arange(half, dims), torch.arange(half)])
    ours = build_2d_sincos_position_embedding(grid, dims, cls_token=True)
    delta = (release_sincos_table(grid, dims)[..., order] - ours).abs().max()
    if delta > SINCOS_ATOL:
        raise ReleaseCheckpointError(
            "mmpretrain's build_2d_sincos_position_embedding is not the "
            "release's table with its halves swapped (max |delta| "
            f'{delta:.2e}): the decoder cannot be converted exactly.')
    return order


def _encoder_keys(num_layers: int, final_norm: bool, avg_pool: bool) -> list:
    """The keys of an mmpretrain ViT of that depth (built on the meta
    device: names only)."""
    from mmpretrain.models import VisionTransformer
    with torch.device('meta'):
        model = VisionTransformer(
            arch=dict(embed_dims=4,
                      num_layers=num_layers,
                      num_heads=1,
                      feedforward_channels=4),
            img_size=4,
            patch_size=4,
            final_norm=final_norm,
            out_type='avg_featmap' if avg_pool else 'raw')
    return [k for k in model.state_dict() if not k.startswith('ln2.')]


def _rename_encoder(state: Mapping[str, torch.Tensor],
                    num_layers: int,
                    final_norm: bool,
                    avg_pool: bool,
                    source_prefix: str = '') -> Dict[str, torch.Tensor]:
    """timm names (after ``source_prefix``) -> mmpretrain ViT names."""
    names = timm_vit_names(_encoder_keys(num_layers, final_norm, avg_pool))
    missing = [
        source_prefix + k for k in names if source_prefix + k not in state
    ]
    if missing:
        raise ReleaseCheckpointError(
            f'The {num_layers}-block encoder lacks {missing[:6]}'
            f'{" ..." if len(missing) > 6 else ""}: the keys do not fit a '
            'release ViT.')
    return {mm: state[source_prefix + timm] for timm, mm in names.items()}


def convert_pretrained(
    state: Mapping[str, torch.Tensor],
    decoder_num_heads: Optional[int] = None
) -> Tuple[Dict[str, torch.Tensor], dict]:
    """A pre-trained release state dict -> a cim_mm ``CIM`` state dict.

    Returns:
        tuple: The state dict (``backbone.*``, ``target_backbone.*``,
        ``neck.*``) and a report: ``dropped`` (keys left out), ``unused``
        (keys no rule took: must be empty), ``decoder_pos_embed_delta`` and
        ``pos_embed_delta`` (max |difference| to the expected sin-cos
        tables).

    Raises:
        ReleaseCheckpointError: the target encoder's depth differs from the
            online one's, or ``decoder_pos_embed`` is not the fixed table.
    """
    num_layers = _block_count(state, 'blocks.')
    target_layers = _block_count(state, 'blocks_c.')
    if target_layers != num_layers:
        raise ReleaseCheckpointError(
            f'blocks_c.* (the EMA target) has {target_layers} blocks, '
            f'blocks.* {num_layers}: not a release checkpoint.')
    converted = {}
    online = _rename_encoder(state, num_layers, True, False)
    converted.update({f'backbone.{k}': v for k, v in online.items()})
    # the target has no cls token / position embedding of its own
    target_source = dict(
        {
            re.sub(r'^(patch_embed|blocks|norm)_c\.', r'\1.', k): v
            for k, v in state.items() if _TARGET.match(k)
        },
        cls_token=state['cls_token'],
        pos_embed=state['pos_embed'])
    target = _rename_encoder(target_source, num_layers, True, False)
    converted.update({f'target_backbone.{k}': v for k, v in target.items()})

    decoder = release_decoder_arch(state, decoder_num_heads)
    dims, grid = decoder['embed_dim'], decoder['context_grid']
    expected = release_sincos_table(grid, dims)
    pe_delta = (state['decoder_pos_embed'].float() - expected).abs().max()
    if pe_delta > SINCOS_ATOL:
        raise ReleaseCheckpointError(
            f'decoder_pos_embed is not the fixed 2-D sin-cos table of a '
            f'{grid}x{grid} context (max |delta| {pe_delta:.2e} > '
            f'{SINCOS_ATOL}); cim_mm builds that table at run time, so this '
            'decoder cannot be converted exactly.')
    order = sincos_channel_order(grid, dims)
    taken = {'decoder_pos_embed'}
    for release_key, (key, stream) in _DECODER_MAP.items():
        if not release_key.startswith('decoder_'):
            release_key = _DECODER_BLOCK + release_key
        value = state[release_key]
        if stream == 'out':
            value = value[order]
        elif stream == 'in':
            value = value[:, order]
        converted[f'neck.{key}'] = value.contiguous()
        taken.add(release_key)
    name, targets = _SHARED_NORM
    for param in ('weight', 'bias'):
        release_key = f'{_DECODER_BLOCK}{name}.{param}'
        for key in targets:
            value = state[release_key][order]
            converted[f'neck.{key}.{param}'] = value.clone()
        taken.add(release_key)
    weight, bias = state[_PREDICTOR + 'weight'], state[_PREDICTOR + 'bias']
    logit = (weight[1] - weight[0])[None]  # (1, D, 1, 1)
    converted['neck.predictor.weight'] = logit[:, order].contiguous()
    converted['neck.predictor.bias'] = (bias[1] - bias[0])[None]
    taken.update({_PREDICTOR + 'weight', _PREDICTOR + 'bias'})

    taken.update(k for k in state if _ENCODER.match(k) or _TARGET.match(k))
    dropped = sorted(k for k in state if _CONTRASTIVE.match(k))
    unused = sorted(set(state) - taken - set(dropped))
    report = dict(dropped=dropped,
                  unused=unused,
                  decoder_pos_embed_delta=float(pe_delta),
                  pos_embed_delta=_table_delta(state['pos_embed']))
    return converted, report


def convert_finetuned(
    state: Mapping[str, torch.Tensor]
) -> Tuple[Dict[str, torch.Tensor], dict]:
    """A fine-tuned release state dict -> an mmpretrain ``ImageClassifier``
    state dict (``backbone.*`` of ``VisionTransformer(out_type=
    'avg_featmap', final_norm=False)``, ``head.fc.*`` of
    ``LinearClsHead``), and a report as :func:`convert_pretrained`'s."""
    num_layers = _block_count(state, 'blocks.')
    backbone = _rename_encoder(state, num_layers, False, True)
    backbone['ln2.weight'] = state['fc_norm.weight']
    backbone['ln2.bias'] = state['fc_norm.bias']
    converted = {f'backbone.{k}': v for k, v in backbone.items()}
    converted['head.fc.weight'] = state['head.weight']
    converted['head.fc.bias'] = state['head.bias']
    taken = {k
             for k in state if _ENCODER.match(k)} | {
                 'fc_norm.weight', 'fc_norm.bias', 'head.weight', 'head.bias'
             }
    report = dict(dropped=[],
                  unused=sorted(set(state) - taken),
                  pos_embed_delta=_table_delta(state['pos_embed']))
    return converted, report


def _table_delta(pos_embed: torch.Tensor) -> float:
    """Max |pos_embed - the release's sin-cos table| (reported: the encoder
    keeps its embedding as it is)."""
    grid = math.isqrt(pos_embed.shape[1] - 1)
    expected = release_sincos_table(grid, pos_embed.shape[-1])
    return float((pos_embed.float() - expected).abs().max())
