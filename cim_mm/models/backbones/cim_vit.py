"""Vision Transformer encoder for CIM pre-training."""
from typing import List, Optional, Sequence, Union

import torch
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
        self.pos_embed.requires_grad = False
        self.freeze_patch_embed = freeze_patch_embed
        if freeze_patch_embed:
            self.patch_embed.requires_grad_(False)

    def init_weights(self) -> None:
        """Set the sin-cos position embedding; randomly init patch embedding
        (Xavier-uniform, as MAE / MoCo v3) and cls token unless pretrained."""
        super().init_weights()
        pos_embed = build_2d_sincos_position_embedding(
            self.patch_resolution, self.embed_dims, cls_token=True)
        self.pos_embed.data.copy_(pos_embed)

        if isinstance(self.init_cfg, dict) and \
                self.init_cfg['type'] == 'Pretrained':
            return
        w = self.patch_embed.projection.weight.data
        torch.nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        torch.nn.init.normal_(self.cls_token, std=.02)
