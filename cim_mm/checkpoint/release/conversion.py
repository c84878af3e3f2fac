"""A recognised release state dict converted: a pre-trained one to a
cim_mm ``CIM`` state dict, a fine-tuned one to an mmpretrain
``ImageClassifier`` state dict.

Pure functions on state dicts. What is not a renaming is listed in
:mod:`cim_mm.checkpoint.release`.
"""
import math
import re
from collections.abc import Mapping
from typing import Dict, Optional, Tuple

import torch

from ..key_maps import timm_vit_names
from .recognition import (DECODER_BLOCK, PREDICTOR, ReleaseCheckpointError,
                          block_count, release_decoder_arch)

__all__ = [
    'SINCOS_ATOL', 'release_sincos_table', 'sincos_channel_order',
    'convert_pretrained', 'convert_finetuned'
]

# float32 (cim_mm) against float64-then-float32 (release) sin-cos tables
SINCOS_ATOL = 1e-5

_ENCODER = re.compile(r'^(cls_token|pos_embed|patch_embed\.|blocks\.|norm\.)')
_TARGET = re.compile(r'^(patch_embed_c|blocks_c|norm_c)\.')
_CONTRASTIVE = re.compile(r'^(decoder_g_embed|decoder_g_embed_c|'
                          r'decoder_predictor)\.')
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
    num_layers = block_count(state, 'blocks.')
    target_layers = block_count(state, 'blocks_c.')
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
            release_key = DECODER_BLOCK + release_key
        value = state[release_key]
        if stream == 'out':
            value = value[order]
        elif stream == 'in':
            value = value[:, order]
        converted[f'neck.{key}'] = value.contiguous()
        taken.add(release_key)
    name, targets = _SHARED_NORM
    for param in ('weight', 'bias'):
        release_key = f'{DECODER_BLOCK}{name}.{param}'
        for key in targets:
            value = state[release_key][order]
            converted[f'neck.{key}.{param}'] = value.clone()
        taken.add(release_key)
    weight, bias = state[PREDICTOR + 'weight'], state[PREDICTOR + 'bias']
    logit = (weight[1] - weight[0])[None]  # (1, D, 1, 1)
    converted['neck.predictor.weight'] = logit[:, order].contiguous()
    converted['neck.predictor.bias'] = (bias[1] - bias[0])[None]
    taken.update({PREDICTOR + 'weight', PREDICTOR + 'bias'})

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
    num_layers = block_count(state, 'blocks.')
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
