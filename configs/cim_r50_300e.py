# CIM ResNet-50, 300 epochs on ImageNet-1K, 8 GPUs x 512 (batch 4096), AMP.
# The decoder reads stage-4 feature maps as tokens (2x2 for a 64x64 exemplar,
# 5x5 for the 160x160 context), without a cls token. Same recipe as the ViTs
# (the paper shares one pre-training recipe across architectures).
_base_ = ['cim_vitb_300e.py']
model = dict(
    backbone=dict(
        _delete_=True, type='ResNet', depth=50, out_indices=(3, ),
        norm_cfg=dict(type='SyncBN'), zero_init_residual=False),
    neck=dict(in_channels=2048))
