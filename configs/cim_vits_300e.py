# CIM ViT-S/16, 300 epochs on ImageNet-1K, 8 GPUs x 512 (batch 4096), AMP.
_base_ = ['cim_vitb_300e.py']
model = dict(
    backbone=dict(arch='deit-small'),  # ViT-S/16: 384-d, 12 layers, 6 heads
    neck=dict(in_channels=384))
