"""CIM's correlation decoder (the paper's Eq. 4-6 and Fig. 4 variants)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS

from ..utils.bilinear_upsample import bilinear_upsample
from ..utils.feature_tokens import (check_exemplar_count, to_tokens,
                                    tokens_to_maps)
from ..utils.sincos_embedding import sincos_position_embedding


class CrossAttentionBlock(BaseModule):
    """Pre-norm cross-attention block (Eq. 4-5).

    ``h = q + Attn(LN(q), LN(kv))``, then ``h = h + MLP(LN(h))``: queries
    come from the context tokens, keys and values from the exemplar tokens.

    Args:
        embed_dims (int): Token width D.
        num_heads (int): Number of attention heads.
        feedforward_channels (int): Hidden width of the GELU MLP.
        norm_cfg (dict): Normalization layer config.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 feedforward_channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm_query = build_norm_layer(norm_cfg, embed_dims)
        self.norm_key_value = build_norm_layer(norm_cfg, embed_dims)
        self.q = nn.Linear(embed_dims, embed_dims)
        self.kv = nn.Linear(embed_dims, embed_dims * 2)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.norm_ffn = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(embed_dims, feedforward_channels,
                       act_cfg=dict(type='GELU'))

    def forward(self, query: torch.Tensor,
                key_value: torch.Tensor) -> torch.Tensor:
        """(N, Lq, D) queries attend to (N, Lk, D) keys/values: (N, Lq, D)."""
        n, len_q, dims = query.shape
        len_k = key_value.shape[1]
        head_dims = dims // self.num_heads
        q = self.q(self.norm_query(query))
        q = q.reshape(n, len_q, self.num_heads, head_dims).transpose(1, 2)
        kv = self.kv(self.norm_key_value(key_value))
        # (N, Lk, 2D) -> 2 x (N, heads, Lk, D / heads)
        k, v = kv.reshape(n, len_k, 2, self.num_heads,
                          head_dims).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v)  # (N, heads, Lq, D/h)
        h = query + self.proj(attn.transpose(1, 2).reshape(n, len_q, dims))
        return self.ffn(self.norm_ffn(h), identity=h)


class ConvCorrelationBlock(BaseModule):
    """Pre-norm convolutional correlation block (Fig. 4a, SiamFC style).

    Each exemplar's normalized feature map is a depthwise kernel slid over
    its context's normalized feature map ('same' padding, one group per
    exemplar channel); the response is divided by the kernel area. Then
    ``h = ctx + response`` and ``h = h + MLP(LN(h))`` as in Eq. 5.

    Args:
        embed_dims (int): Channel width D.
        feedforward_channels (int): Hidden width of the GELU MLP.
        norm_cfg (dict): Normalization layer config.
    """

    def __init__(self, embed_dims: int, feedforward_channels: int,
                 norm_cfg: dict) -> None:
        super().__init__()
        self.norm_context = build_norm_layer(norm_cfg, embed_dims)
        self.norm_kernel = build_norm_layer(norm_cfg, embed_dims)
        self.norm_ffn = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(embed_dims, feedforward_channels,
                       act_cfg=dict(type='GELU'))

    def forward(self, context: torch.Tensor, kernel: torch.Tensor,
                context_hw: Sequence[int],
                kernel_hw: Sequence[int]) -> torch.Tensor:
        """(N, hc*wc, D) context tokens, (N, he*we, D) exemplar tokens (no
        cls) and their grids -> (N, hc*wc, D)."""
        n, len_c, dims = context.shape
        # all N*D channels in one grouped convolution: (1, N*D, hc, wc)
        x = self.norm_context(context).transpose(1, 2).reshape(
            1, n * dims, *context_hw)
        weight = self.norm_kernel(kernel).transpose(1, 2).reshape(
            n * dims, 1, *kernel_hw)
        # 'same' padding, the extra row/column after for even kernels
        kh, kw = kernel_hw
        x = F.pad(x, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
        response = F.conv2d(x, weight, groups=n * dims) / (kh * kw)
        h = context + response.reshape(n, dims, len_c).transpose(1, 2)
        return self.ffn(self.norm_ffn(h), identity=h)


@MODELS.register_module()
class CorrelationDecoder(BaseModule):
    """Correlation decoder of `Correlational Image Modeling for
    Self-Supervised Visual Pre-Training <https://arxiv.org/abs/2303.12670>`_.

    Predicts, for every exemplar, a correlation map over its context:

    1. One Linear layer ``in_channels -> embed_dim`` shared by context and
       exemplar tokens; a fixed 2-D sin-cos position embedding for the
       context grid (zero on a cls slot) is added to the context only.
    2. Each projected context (computed once per image) is repeated for its
       K exemplars, then ``depth`` correlation blocks:
       ``'cross_attention'`` (Eq. 4-5; queries from the context tokens,
       keys/values from the exemplar tokens, cls tokens included on both
       sides) or ``'convolution'`` (Fig. 4a, :class:`ConvCorrelationBlock`;
       cls tokens dropped).
    3. A final norm, the cls token dropped, the context grid restored to
       (B*K, D, hc, wc) and a predictor to one logit channel:
       ``'linear'`` is a 1x1 conv (Eq. 6; run as a matmul on the tokens);
       ``'deconv'`` (Fig. 4b) is three
       ConvTranspose2d(kernel 4, stride 2, padding 1) + BN + ReLU layers
       halving the channels each time (D -> D/2 -> D/4 -> D/8, 8x the grid)
       followed by a 1x1 conv.
    4. Bilinear upsampling (``align_corners=True``) to ``out_size``, done
       as two matmuls (:func:`bilinear_upsample`), in float32 under
       autocast: the output logits are float32.

    Backbone features may be ViT tokens (N, L, C), with or without one cls
    token (told apart by L or L - 1 being a square grid), or CNN feature
    maps (N, C, h, w), e.g. ResNet's last stage: maps are flattened to
    tokens and have no cls token.

    Args:
        in_channels (int): Channels C of the backbone features.
        embed_dim (int): Decoder width D. Defaults to 512.
        depth (int): Number of correlation blocks. Defaults to 1.
        num_heads (int): Attention heads (cross-attention only).
            Defaults to 16.
        mlp_ratio (float): MLP hidden width over D. Defaults to 4.
        correlation (str): ``'cross_attention'`` or ``'convolution'``.
            Defaults to ``'cross_attention'``.
        predictor (str): ``'linear'`` or ``'deconv'``. Defaults to
            ``'linear'``.
        out_size (int): Side of the output maps (the context's pixel size).
            Defaults to 160.
        norm_cfg (dict): Normalization layer config for the blocks and the
            final norm. Defaults to ``dict(type='LN', eps=1e-6)``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    CORRELATIONS = ('cross_attention', 'convolution')
    PREDICTORS = ('linear', 'deconv')

    def __init__(self,
                 in_channels: int,
                 embed_dim: int = 512,
                 depth: int = 1,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 correlation: str = 'cross_attention',
                 predictor: str = 'linear',
                 out_size: int = 160,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._check_args(in_channels, embed_dim, depth, num_heads, mlp_ratio,
                         correlation, predictor, out_size)
        self.embed_dim = embed_dim
        self.correlation = correlation
        self.out_size = out_size

        self.embed = nn.Linear(in_channels, embed_dim)
        feedforward_channels = int(mlp_ratio * embed_dim)
        if correlation == 'cross_attention':
            blocks = [
                CrossAttentionBlock(embed_dim, num_heads, feedforward_channels,
                                    norm_cfg) for _ in range(depth)
            ]
        else:
            blocks = [
                ConvCorrelationBlock(embed_dim, feedforward_channels,
                                     norm_cfg) for _ in range(depth)
            ]
        self.blocks = ModuleList(blocks)
        self.norm = build_norm_layer(norm_cfg, embed_dim)

        if predictor == 'linear':
            self.predictor = nn.Conv2d(embed_dim, 1, kernel_size=1)
        else:
            channels = [embed_dim // 2**i for i in range(4)]
            self.predictor = nn.Sequential(*[
                ConvModule(
                    c_in,
                    c_out,
                    kernel_size=4,
                    stride=2,
                    padding=1,
                    conv_cfg=dict(type='deconv'),
                    norm_cfg=dict(type='BN'),
                    act_cfg=dict(type='ReLU'))
                for c_in, c_out in zip(channels[:-1], channels[1:])
            ], nn.Conv2d(channels[-1], 1, kernel_size=1))

    def _check_args(self, in_channels, embed_dim, depth, num_heads, mlp_ratio,
                    correlation, predictor, out_size) -> None:
        name = type(self).__name__
        for arg, value in (('in_channels', in_channels),
                           ('embed_dim', embed_dim), ('depth', depth),
                           ('num_heads', num_heads), ('out_size', out_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'{name}: {arg} must be a positive int, got {value!r}.')
        if mlp_ratio <= 0:
            raise ValueError(
                f'{name}: mlp_ratio must be positive, got {mlp_ratio!r}.')
        if correlation not in self.CORRELATIONS:
            raise ValueError(f'{name}: correlation must be one of '
                             f'{self.CORRELATIONS}, got {correlation!r}.')
        if predictor not in self.PREDICTORS:
            raise ValueError(f'{name}: predictor must be one of '
                             f'{self.PREDICTORS}, got {predictor!r}.')
        if embed_dim % 4:
            raise ValueError(f'{name}: embed_dim must be a multiple of 4 for '
                             f'the sin-cos position embedding, got '
                             f'{embed_dim}.')
        if correlation == 'cross_attention' and embed_dim % num_heads:
            raise ValueError(f'{name}: embed_dim ({embed_dim}) must be '
                             f'divisible by num_heads ({num_heads}).')
        if predictor == 'deconv' and embed_dim % 8:
            raise ValueError(f'{name}: the deconv predictor halves embed_dim '
                             f'three times; it must be a multiple of 8, got '
                             f'{embed_dim}.')

    def _predict(self, tokens: torch.Tensor,
                 grid: Tuple[int, int]) -> torch.Tensor:
        """(N, hc*wc, D) tokens -> (N, 1, hc, wc) logits.

        The linear predictor (a 1x1 conv) is applied to the tokens as a
        matmul: a conv on the transposed tokens (a channels-last view) gives
        its weight a channels-last gradient, whose strides differ from the
        weight's (DDP: "Grad strides do not match bucket view strides").
        """
        if isinstance(self.predictor, nn.Conv2d):
            logits = F.linear(tokens, self.predictor.weight.flatten(1),
                              self.predictor.bias)
            return logits.transpose(1, 2).reshape(-1, 1, *grid)
        return self.predictor(tokens_to_maps(tokens, grid).contiguous())

    def forward(self, context_feats: torch.Tensor,
                exemplar_feats: torch.Tensor,
                num_exemplars: int) -> torch.Tensor:
        """Predict correlation logits.

        Args:
            context_feats (torch.Tensor): (B, [1 +] hc*wc, C) tokens or
                (B, C, hc, wc) maps of the B contexts.
            exemplar_feats (torch.Tensor): (B*K, [1 +] he*we, C) tokens or
                (B*K, C, he, we) maps, sample-major (b0e0, b0e1, ..., b1e0).
            num_exemplars (int): K, exemplars per context.

        Returns:
            torch.Tensor: Logits (B, K, out_size, out_size).
        """
        context, context_hw, context_extra = to_tokens(
            context_feats, 'CorrelationDecoder')
        exemplar, exemplar_hw, exemplar_extra = to_tokens(
            exemplar_feats, 'CorrelationDecoder')
        batch_size = context.shape[0]
        check_exemplar_count(batch_size, num_exemplars, exemplar.shape[0],
                             'CorrelationDecoder')

        pos_embed = sincos_position_embedding(
            context_hw, self.embed_dim, context_extra == 1, context.device,
            context.dtype)
        context = self.embed(context) + pos_embed
        exemplar = self.embed(exemplar)
        # (B, Lc, D) -> (B*K, Lc, D): each context serves its K exemplars
        context = context.repeat_interleave(num_exemplars, dim=0)

        if self.correlation == 'cross_attention':
            for block in self.blocks:
                context = block(context, exemplar)
            x = self.norm(context)[:, context_extra:]
        else:
            context = context[:, context_extra:]
            exemplar = exemplar[:, exemplar_extra:]
            for block in self.blocks:
                context = block(context, exemplar, context_hw, exemplar_hw)
            x = self.norm(context)

        x = bilinear_upsample(self._predict(x, context_hw), self.out_size)
        return x.reshape(batch_size, num_exemplars, self.out_size,
                         self.out_size)
