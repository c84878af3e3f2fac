"""Vision Transformer encoder for CIM pre-training."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CIMViT(VisionTransformer):
    """Vision Transformer with a fixed 2-D sin-cos position embedding.

    A PyTorch implementation of the encoder of `Correlational Image Modeling
    for Self-Supervised Visual Pre-Training
    <https://arxiv.org/abs/2303.12670>`_ on top of `An Image is Worth 16x16
    Words <https://arxiv.org/abs/2010.11929>`_.

    The position embedding is built for the ``img_size`` grid (14x14 for
    224), is never trained, and is resized bicubically by
    :class:`VisionTransformer` to the grid of each input (4x4 for a 64x64
    exemplar, 10x10 for a 160x160 context). The patch embedding may be
    frozen at its random initialisation (the MoCo v3 "stop-grad conv" trick).

    Parameter names are those of :class:`VisionTransformer`, so the state
    dict loads strictly into ``VisionTransformer(arch=..., out_type=...)``
    for ``out_type`` 'raw', 'cls_token' or 'featmap'; with 'avg_featmap' only
    the extra ``ln2`` is missing. ViT-S/16 (384-d, 12 layers, 6 heads, MLP
    1536, as in DeiT-S / MoCo v3) is ``arch='deit-small'``: mmpretrain's
    ``'small'`` is a different 768-d, 8-layer model.

    The CIM release initialises every Linear layer with Xavier-uniform and
    LayerNorms to (1, 0); in an mmpretrain config that is the algorithm's
    ``init_cfg``, as for MAE.

    Args:
        arch (str | dict): Architecture, a key of
            :attr:`VisionTransformer.arch_zoo` (e.g. ``'deit-small'``,
            ``'base'``) or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads`` and ``feedforward_channels``. Defaults to 'base'.
        img_size (int | tuple): Size the position embedding is built for.
            Defaults to 224.
        patch_size (int | tuple): Patch size. Defaults to 16.
        out_indices (Sequence | int): Output from which layers.
            Defaults to -1 (the last).
        drop_rate (float): Dropout after the position embedding and in the
            MLPs. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        norm_cfg (dict): Normalization layer config.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        final_norm (bool): Whether to normalize the last layer's output.
            Defaults to True.
        out_type (str): Output type, see :class:`VisionTransformer`.
            Defaults to ``'raw'``: (B, 1 + N, C) tokens including cls.
        interpolate_mode (str): Mode used to resize the position embedding.
            Defaults to ``'bicubic'``.
        pos_embed_scale_offset (float, optional): None resizes the position
            embedding to the input grid by ``size=`` (mmpretrain); a float
            ``o`` in [0, 1) by ``scale_factor=(g + o) / G`` per side (the
            CIM release: 0.1). Defaults to None.
        freeze_patch_embed (bool): Keep the patch embedding at its random
            initialisation (``requires_grad=False``). Defaults to True.
        patch_cfg (dict): Extra patch embedding config. Defaults to ``{}``.
        layer_cfgs (Sequence | dict): Extra transformer layer configs.
            Defaults to ``{}``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 patch_size: int = 16,
                 out_indices: Union[Sequence, int] = -1,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 final_norm: bool = True,
                 out_type: str = 'raw',
                 interpolate_mode: str = 'bicubic',
                 pos_embed_scale_offset: Optional[float] = None,
                 freeze_patch_embed: bool = True,
                 patch_cfg: dict = dict(),
                 layer_cfgs: Union[Sequence, dict] = dict(),
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            out_indices=out_indices,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            qkv_bias=True,
            norm_cfg=norm_cfg,
            final_norm=final_norm,
            out_type=out_type,
            with_cls_token=True,
            interpolate_mode=interpolate_mode,
            patch_cfg=patch_cfg,
            layer_cfgs=layer_cfgs,
            init_cfg=init_cfg)
        if pos_embed_scale_offset is not None and not (
                0 <= pos_embed_scale_offset < 1):
            raise ValueError(
                'CIMViT: pos_embed_scale_offset must be None or in [0, 1) '
                '(the CIM release uses 0.1: scale_factor=(g + 0.1) / G), got '
                f'{pos_embed_scale_offset!r}.')
        self.pos_embed_scale_offset = pos_embed_scale_offset
        self.pos_embed.requires_grad = False
        self.freeze_patch_embed = freeze_patch_embed
        if freeze_patch_embed:
            self.patch_embed.requires_grad_(False)

    def init_weights(self) -> None:
        """Unless pretrained (``init_cfg=dict(type='Pretrained')``, whose
        position embedding is kept as loaded): set the sin-cos position
        embedding and randomly init the patch embedding (Xavier-uniform, as
        MAE / MoCo v3) and the cls token."""
        super().init_weights()
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg['type'] == 'Pretrained':
            return
        pos_embed = build_2d_sincos_position_embedding(
            self.patch_resolution, self.embed_dims, cls_token=True)
        self.pos_embed.data.copy_(pos_embed)
        w = self.patch_embed.projection.weight.data
        torch.nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        torch.nn.init.normal_(self.cls_token, std=.02)

    def _scaled_pos_embed(self, grid: Tuple[int, int]) -> torch.Tensor:
        """The (1, 1 + h*w, C) position embedding for an h x w grid, resized
        by ``scale_factor=(g + offset) / G`` per side."""
        if tuple(grid) == tuple(self.patch_resolution):
            return self.pos_embed
        src_h, src_w = self.patch_resolution
        dims = self.pos_embed.shape[-1]
        table = self.pos_embed[:, self.num_extra_tokens:].reshape(
            1, src_h, src_w, dims).permute(0, 3, 1, 2)
        offset = self.pos_embed_scale_offset
        resized = F.interpolate(
            table.float(),
            scale_factor=((grid[0] + offset) / src_h,
                          (grid[1] + offset) / src_w),
            mode=self.interpolate_mode,
            align_corners=False)
        if tuple(resized.shape[2:]) != tuple(grid):
            raise ValueError(
                f'CIMViT: scale_factor resizing gives a '
                f'{tuple(resized.shape[2:])} grid for a {tuple(grid)} input '
                f'(pos_embed_scale_offset={offset}).')
        resized = resized.to(self.pos_embed.dtype).flatten(2).transpose(1, 2)
        return torch.cat(
            (self.pos_embed[:, :self.num_extra_tokens], resized), dim=1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(B, 3, H, W) images -> the ``out_indices`` outputs (see
        ``out_type``); with ``pos_embed_scale_offset`` the position
        embedding is resized by scale factor."""
        if self.pos_embed_scale_offset is None:
            return super().forward(x)
        tokens, grid = self.patch_embed(x)
        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_token, tokens), dim=1) + self._scaled_pos_embed(
            grid)
        x = self.pre_norm(self.drop_after_pos(x))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, grid))
        return tuple(outs)
