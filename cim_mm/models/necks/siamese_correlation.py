"""Siamese cross-correlation of exemplar and context features (SiamFC,
SiamRPN; the paper's Table 4)."""
from typing import List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..utils.feature_tokens import (check_exemplar_count, to_tokens,
                                    tokens_to_maps)


@MODELS.register_module()
class SiameseCorrelation(BaseModule):
    """Exemplar features as a kernel slid over the context features.

    The correlation of `Fully-Convolutional Siamese Networks for Object
    Tracking <https://arxiv.org/abs/1606.09549>`_ (SiamFC) and of the
    Siamese region-proposal trackers built on it: each exemplar's feature
    map (cls token dropped) is a convolution kernel over its context's map,
    without padding, so a context of hc x wc tokens and exemplars of
    he x we give an (hc - he + 1) x (wc - we + 1) response whose cells are
    the windows' centres (centred on the context, one backbone stride
    apart). Both inputs pass through the same layers (Siamese).

    - ``'plain'`` (SiamFC): the channels are summed, one score per window,
      then SiamFC's *adjust* layer, a learned scale (initialised to 1e-3,
      as in SiamFC's release) and bias:
      ``f(z, x) = a * (phi(z) * phi(x)) + b``.
    - ``'depthwise'`` (SiamRPN++'s depth-wise correlation, Li et al., CVPR
      2019): each channel with its own kernel, a ``D``-channel response for
      a region-proposal head (:class:`SiamRPNHead`).

    Simplified against the papers: one feature level (the backbone's
    last), no multi-scale search at test time. SiamFC correlates the
    backbone features as they are (``embed_dim=None``, as SiamFC its
    AlexNet conv5 features). The depth-wise variant first maps both sides
    with one shared 1x1 conv + BN to ``embed_dim`` channels (SiamRPN++'s
    adjust layer) and correlates once for both RPN branches (SiamRPN++
    correlates per branch); SiamRPN's up-channel correlation is not
    offered.

    Args:
        in_channels (int): Channels C of the backbone features.
        embed_dim (int, optional): Width of the shared 1x1 conv + BN before
            the correlation; None correlates the backbone features.
            Defaults to None.
        correlation (str): ``'plain'`` or ``'depthwise'``.
            Defaults to ``'plain'``.
        adjust_scale (float): Initial scale of the ``'plain'`` score.
            Defaults to 1e-3.
        norm_cfg (dict): Norm of the 1x1 projection. Defaults to BN.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    CORRELATIONS = ('plain', 'depthwise')

    def __init__(self,
                 in_channels: int,
                 embed_dim: Optional[int] = None,
                 correlation: str = 'plain',
                 adjust_scale: float = 1e-3,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if correlation not in self.CORRELATIONS:
            raise ValueError(f'SiameseCorrelation: correlation must be one of '
                             f'{self.CORRELATIONS}, got {correlation!r}.')
        self.correlation = correlation
        self.project = None if embed_dim is None else ConvModule(
            in_channels, embed_dim, 1, norm_cfg=norm_cfg, act_cfg=None)
        if correlation == 'plain':
            self.adjust = nn.Conv2d(1, 1, kernel_size=1)
            nn.init.constant_(self.adjust.weight, adjust_scale)
            nn.init.zeros_(self.adjust.bias)

    def _to_maps(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, [1 +] h*w, C) tokens or (N, C, h, w) maps -> projected
        (N, C', h, w) maps without the cls token."""
        tokens, grid, num_extra = to_tokens(feats, 'SiameseCorrelation')
        maps = tokens_to_maps(tokens[:, num_extra:], grid)
        return maps if self.project is None else self.project(maps)

    def forward(self, context_feats: torch.Tensor,
                exemplar_feats: torch.Tensor,
                num_exemplars: int) -> torch.Tensor:
        """Correlate each exemplar with its context.

        Args:
            context_feats (torch.Tensor): (B, [1 +] hc*wc, C) tokens or
                (B, C, hc, wc) maps.
            exemplar_feats (torch.Tensor): (B*K, [1 +] he*we, C) tokens or
                (B*K, C, he, we) maps, sample-major.
            num_exemplars (int): K.

        Returns:
            torch.Tensor: ``'plain'``: scores (B, K, h, w); ``'depthwise'``:
            responses (B, K, D, h, w), h = hc - he + 1, w = wc - we + 1.
        """
        context = self._to_maps(context_feats)  # (B, D, hc, wc)
        kernel = self._to_maps(exemplar_feats)  # (B*K, D, he, we)
        batch, dims = context.shape[:2]
        num = num_exemplars
        check_exemplar_count(batch, num, kernel.shape[0], 'SiameseCorrelation')
        if any(k > c for k, c in zip(kernel.shape[2:], context.shape[2:])):
            raise ValueError(
                f'SiameseCorrelation: the exemplar grid '
                f'{tuple(kernel.shape[2:])} exceeds the context grid '
                f'{tuple(context.shape[2:])}.')
        # All B contexts in one grouped convolution: (1, B*D, hc, wc).
        x = context.reshape(1, batch * dims, *context.shape[2:])
        if self.correlation == 'plain':
            # group b: the K kernels (D, he, we) of context b
            scores = F.conv2d(x, kernel, groups=batch)  # (1, B*K, h, w)
            scores = self.adjust(scores.reshape(batch * num, 1,
                                                *scores.shape[2:]))
            return scores.reshape(batch, num, *scores.shape[2:])
        # group (b, d): channel d of context b against channel d of its K
        # kernels; weight order (b, d, k)
        weight = kernel.reshape(batch, num, dims, *kernel.shape[2:]).transpose(
            1, 2).reshape(batch * dims * num, 1, *kernel.shape[2:])
        response = F.conv2d(x, weight, groups=batch * dims)
        response = response.reshape(batch, dims, num, *response.shape[2:])
        return response.transpose(1, 2)  # (B, K, D, h, w)
