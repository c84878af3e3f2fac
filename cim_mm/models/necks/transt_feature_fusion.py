"""TransT's attention-based feature fusion of exemplar and context tokens
(the paper's Table 4, "TransTrack")."""
from typing import List, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule, ModuleList
from mmpretrain.registry import MODELS

from ..utils.feature_tokens import (check_exemplar_count, to_tokens,
                                    tokens_to_maps)
from ..utils.sincos_embedding import sincos_position_embedding


class EgoContextAugment(nn.Module):
    """ECA: ``x = LN(x + Dropout(SelfAttn(q=k=x+pos, v=x)))``."""

    def __init__(self, embed_dim: int, num_heads: int,
                 dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(
            embed_dim, num_heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """(N, L, D) tokens, (1, L, D) position embedding -> (N, L, D)."""
        q = x + pos
        return self.norm(x + self.dropout(self.attn(q, q, x)[0]))


class CrossFeatureAugment(nn.Module):
    """CFA: ``x = LN(x + Dropout(CrossAttn(q=x+pos, k=y+pos_y, v=y)))``,
    then ``x = LN(x + Dropout(FFN(x)))`` (ReLU MLP)."""

    def __init__(self, embed_dim: int, num_heads: int,
                 feedforward_channels: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(
            embed_dim, num_heads, dropout=dropout, batch_first=True)
        self.norm_attn = nn.LayerNorm(embed_dim)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dim, feedforward_channels), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(feedforward_channels, embed_dim))
        self.norm_ffn = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, y: torch.Tensor,
                pos_y: torch.Tensor) -> torch.Tensor:
        """(N, Lx, D) queries attend to (N, Ly, D) keys/values: (N, Lx, D)."""
        x = self.norm_attn(x + self.dropout(
            self.attn(x + pos, y + pos_y, y)[0]))
        return self.norm_ffn(x + self.dropout(self.ffn(x)))


class FeatureFusionLayer(nn.Module):
    """One fusion layer: an ECA on each branch, then two CFAs at once
    (exemplar from context, context from exemplar), own weights each.

    The blocks are plain ``nn.Module``s: their Linear layers are
    initialised by the model's ``init_cfg``, and mmengine's per-BaseModule
    init bookkeeping (a mean of every parameter per submodule) would cost
    seconds for this many blocks."""

    def __init__(self, embed_dim: int, num_heads: int,
                 feedforward_channels: int, dropout: float) -> None:
        super().__init__()
        self.eca_exemplar = EgoContextAugment(embed_dim, num_heads, dropout)
        self.eca_context = EgoContextAugment(embed_dim, num_heads, dropout)
        self.cfa_exemplar = CrossFeatureAugment(embed_dim, num_heads,
                                                feedforward_channels, dropout)
        self.cfa_context = CrossFeatureAugment(embed_dim, num_heads,
                                               feedforward_channels, dropout)

    def forward(self, exemplar, pos_exemplar, context, pos_context):
        exemplar = self.eca_exemplar(exemplar, pos_exemplar)
        context = self.eca_context(context, pos_context)
        return (self.cfa_exemplar(exemplar, pos_exemplar, context,
                                  pos_context),
                self.cfa_context(context, pos_context, exemplar,
                                 pos_exemplar))


@MODELS.register_module()
class TransTFeatureFusion(BaseModule):
    """Feature fusion network of `Transformer Tracking
    <https://arxiv.org/abs/2103.15436>`_ (TransT, Chen et al., CVPR 2021).

    Backbone tokens of the exemplar and of its context (cls dropped) are
    mapped by one shared Linear layer to ``embed_dim`` (TransT's 1x1 conv),
    get a fixed 2-D sin-cos position embedding of their own grid, added to
    the queries and keys of every attention, and pass ``num_layers`` fusion
    layers (each: an ego-context augment, ECA = self-attention, on each
    branch, then a cross-feature augment, CFA = cross-attention + FFN, into
    each branch from the other; post-norm, own weights per branch), then
    one more CFA into the context from the exemplar and a LayerNorm. The
    defaults are TransT's (d = 256, 8 heads, FFN 2048, dropout 0.1, 4
    layers). Output: the fused context tokens, for :class:`TransTHead`.

    Simplified against TransT: one feature level of a ViT (TransT: ResNet-50
    layer 3, 8x8 template and 32x32 search tokens; here 4x4 exemplar and
    10x10 context tokens); the fixed sin-cos embedding of the CIM decoder
    instead of DETR's normalised sine one; no online tracking.

    Args:
        in_channels (int): Channels C of the backbone features.
        embed_dim (int): Width d. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        num_layers (int): Fusion layers. Defaults to 4.
        feedforward_channels (int): FFN hidden width. Defaults to 2048.
        dropout (float): Dropout rate. Defaults to 0.1.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dim: int = 256,
                 num_heads: int = 8,
                 num_layers: int = 4,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dim % 4 or embed_dim % num_heads:
            raise ValueError(
                f'TransTFeatureFusion: embed_dim ({embed_dim}) must be a '
                f'multiple of 4 (sin-cos embedding) and of num_heads '
                f'({num_heads}).')
        self.embed_dim = embed_dim
        self.input_proj = nn.Linear(in_channels, embed_dim)
        self.layers = ModuleList([
            FeatureFusionLayer(embed_dim, num_heads, feedforward_channels,
                               dropout) for _ in range(num_layers)
        ])
        self.decoder = CrossFeatureAugment(embed_dim, num_heads,
                                           feedforward_channels, dropout)
        self.norm = nn.LayerNorm(embed_dim)

    def _embed(self, feats: torch.Tensor):
        """Backbone features -> (N, h*w, D) tokens, their (1, h*w, D)
        position embedding and grid (h, w)."""
        tokens, grid, num_extra = to_tokens(feats, 'TransTFeatureFusion')
        tokens = self.input_proj(tokens[:, num_extra:])
        pos = sincos_position_embedding(grid, self.embed_dim, False,
                                        tokens.device, tokens.dtype)
        return tokens, pos, grid

    def forward(self, context_feats: torch.Tensor,
                exemplar_feats: torch.Tensor,
                num_exemplars: int) -> torch.Tensor:
        """Fuse each exemplar with its context.

        Args:
            context_feats (torch.Tensor): (B, [1 +] hc*wc, C) tokens or
                (B, C, hc, wc) maps.
            exemplar_feats (torch.Tensor): (B*K, [1 +] he*we, C) tokens or
                (B*K, C, he, we) maps, sample-major.
            num_exemplars (int): K.

        Returns:
            torch.Tensor: Fused context features (B, K, D, hc, wc).
        """
        context, pos_context, (h, w) = self._embed(context_feats)
        exemplar, pos_exemplar, _ = self._embed(exemplar_feats)
        batch = context.shape[0]
        check_exemplar_count(batch, num_exemplars, exemplar.shape[0],
                             'TransTFeatureFusion')
        # (B, Lc, D) -> (B*K, Lc, D): each context serves its K exemplars
        context = context.repeat_interleave(num_exemplars, dim=0)
        for layer in self.layers:
            exemplar, context = layer(exemplar, pos_exemplar, context,
                                      pos_context)
        context = self.norm(
            self.decoder(context, pos_context, exemplar, pos_exemplar))
        return tokens_to_maps(context, (h, w)).reshape(
            batch, num_exemplars, self.embed_dim, h, w)
