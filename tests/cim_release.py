"""Synthetic CIM release checkpoints and references that use no cim_mm code.

The files have the names and shapes of the authors' release (an MAE-style
``save_model``: ``{'model', 'optimizer', 'epoch', 'scaler', 'args'}`` with an
``argparse.Namespace``), random weights, the real MAE-layout sin-cos tables
for ``pos_embed`` / ``decoder_pos_embed``, LayerNorm weights that are not 1
and two different predictor channels.

The references compute the release's function from the release's names:

* encoders: timm's ``VisionTransformer`` loading the names unchanged, with
  the release's position-embedding resize written here
  (``F.interpolate(scale_factor=(g + 0.1) / G, mode='bicubic')``);
* decoder: ``nn.MultiheadAttention`` (in_proj = concat(q, kv), out_proj =
  proj) with one shared ``nn.LayerNorm``, ``timm.layers.Mlp``, a 2-channel
  1x1 conv, bilinear upsampling with ``align_corners=True`` and a softmax.
"""
import argparse
import math

import numpy as np
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Mlp

# the release's ViTs: width -> heads (its tiny, small, base)
HEADS = {192: 3, 384: 6, 768: 12}
TIMM_NAMES = {
    192: 'vit_tiny_patch16_224',
    384: 'vit_small_patch16_224',
    768: 'vit_base_patch16_224'
}


def mae_sincos(grid, dims):
    """MAE's fixed 2-D table, written from its formula: token (y, x) is
    [sin(x w), cos(x w), sin(y w), cos(y w)], w_k = 1 / 10000^(k / (D/4)),
    zeros on the cls slot; float64 numpy, then float32."""
    omega = 1. / 10000**(np.arange(dims // 4, dtype=np.float64) / (dims / 4))
    ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing='ij')
    ex = np.outer(xs.reshape(-1), omega)
    ey = np.outer(ys.reshape(-1), omega)
    table = np.concatenate(
        [np.sin(ex), np.cos(ex),
         np.sin(ey), np.cos(ey)], axis=1)
    table = np.concatenate([np.zeros((1, dims)), table])
    return torch.from_numpy(table).float()[None]


def _linear(gen, out, inp, bias=True):
    weight = torch.randn(out, inp, generator=gen).div_(math.sqrt(inp))
    if not bias:
        return weight, None
    return weight, 0.02 * torch.randn(out, generator=gen)


def _norm(gen, dims):
    return (1 + 0.2 * torch.randn(dims, generator=gen),
            0.1 * torch.randn(dims, generator=gen))


def _encoder(gen,
             prefix_patch,
             prefix_blocks,
             prefix_norm,
             dims,
             depth,
             mlp,
             patch,
             norm_name='norm'):
    state = {}
    state[f'{prefix_patch}.proj.weight'] = torch.randn(
        dims, 3, patch, patch, generator=gen) / math.sqrt(3 * patch * patch)
    state[f'{prefix_patch}.proj.bias'] = 0.02 * torch.randn(dims,
                                                            generator=gen)
    for i in range(depth):
        b = f'{prefix_blocks}.{i}'
        for name, (out, inp) in (('attn.qkv', (3 * dims, dims)),
                                 ('attn.proj', (dims, dims)),
                                 ('mlp.fc1', (mlp, dims)), ('mlp.fc2', (dims,
                                                                        mlp))):
            w, bias = _linear(gen, out, inp)
            state[f'{b}.{name}.weight'], state[f'{b}.{name}.bias'] = w, bias
        for name in ('norm1', 'norm2'):
            state[f'{b}.{name}.weight'], state[f'{b}.{name}.bias'] = _norm(
                gen, dims)
    if prefix_norm:
        w, bias = _norm(gen, dims)
        state[f'{prefix_norm}.weight'], state[f'{prefix_norm}.bias'] = w, bias
    return state


def _mlp_with_bn(gen, prefix, layers, inp, hidden, out):
    """The release's build_mlp: Linear (no bias) + BN + ReLU ..., last BN
    without affine."""
    state = {}
    for i in range(layers):
        d_in = inp if i == 0 else hidden
        d_out = out if i == layers - 1 else hidden
        state[f'{prefix}.{3 * i}.weight'] = _linear(gen, d_out, d_in, False)[0]
        bn = f'{prefix}.{3 * i + 1}'
        if i < layers - 1:
            state[f'{bn}.weight'], state[f'{bn}.bias'] = _norm(gen, d_out)
        state[f'{bn}.running_mean'] = torch.zeros(d_out)
        state[f'{bn}.running_var'] = torch.ones(d_out)
        state[f'{bn}.num_batches_tracked'] = torch.tensor(1000)
    return state


def pretrained_state(dims=192,
                     depth=2,
                     patch=16,
                     img_size=224,
                     context_size=160,
                     decoder_dims=512,
                     hidden=64,
                     seed=0):
    """A release ``CorrelationalAutoencoderViT`` state dict (``hidden``: the
    width of the unused contrastive MLPs, 4096 in the release)."""
    gen = torch.Generator().manual_seed(seed)
    grid, context_grid = img_size // patch, context_size // patch
    mlp, dmlp = 4 * dims, 4 * decoder_dims
    state = {
        'cls_token': 0.02 * torch.randn(1, 1, dims, generator=gen),
        'pos_embed': mae_sincos(grid, dims),
    }
    state.update(
        _encoder(gen, 'patch_embed', 'blocks', 'norm', dims, depth, mlp,
                 patch))
    state.update(
        _encoder(gen, 'patch_embed_c', 'blocks_c', 'norm_c', dims, depth, mlp,
                 patch))
    w, b = _linear(gen, decoder_dims, dims)
    state['decoder_embed.weight'], state['decoder_embed.bias'] = w, b
    state['decoder_pos_embed'] = mae_sincos(context_grid, decoder_dims)
    block = 'decoder_corr_block.block'
    for name, (out, inp) in (('attn.q', (decoder_dims, decoder_dims)),
                             ('attn.kv', (2 * decoder_dims, decoder_dims)),
                             ('attn.proj', (decoder_dims, decoder_dims)),
                             ('mlp.fc1', (dmlp, decoder_dims)),
                             ('mlp.fc2', (decoder_dims, dmlp))):
        w, b = _linear(gen, out, inp)
        state[f'{block}.{name}.weight'], state[f'{block}.{name}.bias'] = w, b
    for name in (f'{block}.norm1', f'{block}.norm2', 'decoder_norm'):
        state[f'{name}.weight'], state[f'{name}.bias'] = _norm(
            gen, decoder_dims)
    state['decoder_pred_mask.0.weight'] = 2 * torch.randn(
        2, decoder_dims, 1, 1, generator=gen) / math.sqrt(decoder_dims)
    state['decoder_pred_mask.0.bias'] = torch.tensor([0.3, -0.2])
    state.update(_mlp_with_bn(gen, 'decoder_g_embed', 3, dims, hidden, 256))
    state.update(_mlp_with_bn(gen, 'decoder_g_embed_c', 3, dims, hidden, 256))
    state.update(_mlp_with_bn(gen, 'decoder_predictor', 2, 256, hidden, 256))
    return state


def finetuned_state(dims=192, depth=2, patch=16, num_classes=10, seed=1):
    """A release fine-tuned ViT (timm, global pooling) state dict."""
    gen = torch.Generator().manual_seed(seed)
    state = {
        'cls_token': 0.02 * torch.randn(1, 1, dims, generator=gen),
        'pos_embed': mae_sincos(224 // patch, dims),
    }
    state.update(
        _encoder(gen, 'patch_embed', 'blocks', 'fc_norm', dims, depth,
                 4 * dims, patch))
    state['head.weight'] = 0.02 * torch.randn(num_classes, dims, generator=gen)
    state['head.bias'] = 0.02 * torch.randn(num_classes, generator=gen)
    return state


def save_release(path, state, epoch=299, **args):
    """Save as the release's ``save_model`` does."""
    optimizer = dict(state={}, param_groups=[dict(lr=0.0, params=[0, 1])])
    namespace = argparse.Namespace(model='vit_base_patch16',
                                   input_size=224,
                                   context_size=160,
                                   template_size=64,
                                   blr=1.5e-4,
                                   output_dir='exps/cim',
                                   **args)
    torch.save(
        dict(model=state,
             optimizer=optimizer,
             epoch=epoch,
             scaler=None,
             args=namespace), path)
    return path


# ---------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------
def timm_vit(state, global_pool='token', num_classes=0, prefix=''):
    """timm's VisionTransformer holding a release encoder (names as they
    are; ``prefix`` 'X_c' takes the target's ``patch_embed_c`` etc. and the
    shared cls token / position embedding)."""
    dims = state['cls_token'].shape[-1]
    depth = len({k.split('.')[1] for k in state if k.startswith('blocks.')})
    model = timm.create_model(TIMM_NAMES[dims],
                              pretrained=False,
                              depth=depth,
                              global_pool=global_pool,
                              num_classes=num_classes)
    if prefix:
        weights = {
            k.replace('_c.', '.', 1): v
            for k, v in state.items()
            if k.startswith(('patch_embed_c.', 'blocks_c.', 'norm_c.'))
        }
        weights.update(cls_token=state['cls_token'],
                       pos_embed=state['pos_embed'])
    else:
        weights = {
            k: v
            for k, v in state.items()
            if not k.startswith(('decoder', 'patch_embed_c', 'blocks_c',
                                 'norm_c'))
        }
    model.load_state_dict(weights, strict=True)
    return model.eval()


def release_pos_embed(pos_embed, grid):
    """The release's resize: bicubic by scale_factor (g + 0.1) / G."""
    if pos_embed.shape[1] - 1 == grid * grid:
        return pos_embed
    src = math.isqrt(pos_embed.shape[1] - 1)
    table = pos_embed[:, 1:].reshape(1, src, src, -1).permute(0, 3, 1, 2)
    table = F.interpolate(table,
                          scale_factor=((grid + 0.1) / src, ) * 2,
                          mode='bicubic')
    assert table.shape[-2:] == (grid, grid)
    return torch.cat(
        [pos_embed[:, :1],
         table.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)


@torch.no_grad()
def encode(model, images):
    """(B, 3, H, W) -> (B, 1 + h*w, D) normalised tokens: timm's blocks and
    norm, the release's position embedding resize."""
    proj = model.patch_embed.proj
    tokens = F.conv2d(images, proj.weight, proj.bias,
                      stride=proj.stride).flatten(2).transpose(1, 2)
    grid = images.shape[-1] // proj.stride[0]
    cls = model.cls_token.expand(images.shape[0], -1, -1)
    x = torch.cat([cls, tokens], dim=1) + release_pos_embed(
        model.pos_embed, grid)
    return model.norm(model.blocks(x))


class DecoderReference(nn.Module):
    """The release's correlation decoder from torch / timm parts."""

    def __init__(self, state, num_heads=16, out_size=160):
        super().__init__()
        dims, in_dims = state['decoder_embed.weight'].shape
        block = 'decoder_corr_block.block.'
        self.out_size = out_size
        self.embed = nn.Linear(in_dims, dims)
        self.norm1 = nn.LayerNorm(dims, eps=1e-6)
        self.attn = nn.MultiheadAttention(dims, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dims, eps=1e-6)
        self.mlp = Mlp(dims, state[block + 'mlp.fc1.weight'].shape[0])
        self.norm = nn.LayerNorm(dims, eps=1e-6)
        self.pred = nn.Conv2d(dims, 2, kernel_size=1)
        self.register_buffer('pos_embed', state['decoder_pos_embed'].clone())
        weights = {
            'embed.weight':
            state['decoder_embed.weight'],
            'embed.bias':
            state['decoder_embed.bias'],
            'attn.in_proj_weight':
            torch.cat([
                state[block + 'attn.q.weight'], state[block + 'attn.kv.weight']
            ]),
            'attn.in_proj_bias':
            torch.cat(
                [state[block + 'attn.q.bias'], state[block + 'attn.kv.bias']]),
            'attn.out_proj.weight':
            state[block + 'attn.proj.weight'],
            'attn.out_proj.bias':
            state[block + 'attn.proj.bias'],
            'pred.weight':
            state['decoder_pred_mask.0.weight'],
            'pred.bias':
            state['decoder_pred_mask.0.bias'],
            'pos_embed':
            state['decoder_pos_embed'],
        }
        for ours, theirs in (('norm1', block + 'norm1'), ('norm2',
                                                          block + 'norm2'),
                             ('norm', 'decoder_norm'), ('mlp.fc1',
                                                        block + 'mlp.fc1'),
                             ('mlp.fc2', block + 'mlp.fc2')):
            for param in ('weight', 'bias'):
                weights[f'{ours}.{param}'] = state[f'{theirs}.{param}']
        self.load_state_dict(weights, strict=True)
        self.eval()

    @torch.no_grad()
    def forward(self, context, exemplar):
        """(N, 1 + hc*wc, C) context and (N, 1 + he*we, C) exemplar tokens
        -> (N, out, out) probabilities of the exemplar class."""
        x = self.embed(context) + self.pos_embed
        t = self.norm1(self.embed(exemplar))
        x = x + self.attn(self.norm1(x), t, t, need_weights=False)[0]
        x = x + self.mlp(self.norm2(x))
        x = self.norm(x)[:, 1:]
        grid = math.isqrt(x.shape[1])
        maps = x.transpose(1, 2).reshape(x.shape[0], -1, grid, grid)
        logits = F.interpolate(self.pred(maps),
                               size=self.out_size,
                               mode='bilinear',
                               align_corners=True)
        return logits.softmax(dim=1)[:, 1]
