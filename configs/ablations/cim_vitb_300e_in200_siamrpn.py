# Table 4, SiamRPN (Li et al., CVPR 2018) trained on CIM's pairs: top-1 89.02
# after fine-tuning (CIM 90.12, scratch 77.79).
# Read as trackers are built: one shared (siamese) ViT-B/16 encodes exemplars
# and contexts (bootstrap='shared', no EMA target); both maps pass a shared
# 1x1 conv + BN to 256 channels, are correlated depth-wise, and a region-
# proposal head classifies 15 anchors per cell (IoU > 0.6 positive, < 0.3
# negative, 16 of 64 sampled anchors at most positive) and regresses the
# box enclosing the exemplar's region (dx, dy, log dw, log dh; smooth-L1).
# Pairs, schedule and fine-tuning are CIM's (cim_vitb_300e_in200.py;
# configs/finetune/).
_base_ = ['../cim_vitb_300e_in200.py']

model = dict(
    bootstrap='shared',
    neck=dict(
        _delete_=True,
        type='SiameseCorrelation',
        in_channels=768,
        embed_dim=256,
        correlation='depthwise'),
    head=dict(
        _delete_=True,
        type='SiamRPNHead',
        in_channels=256,  # the neck's embed_dim
        stride=16,  # ViT/16: correlation cells 16 px apart
        ratios=(0.33, 0.5, 1, 2, 3),
        scales=(4, 6, 8),  # 64, 96, 128 px anchors
        pos_iou_thr=0.6,
        neg_iou_thr=0.3,
        num_samples=64,
        max_positives=16,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True),
        reg_weight=1.2))

# No target encoder to average: drop TargetEMAHook, keep the other hooks.
custom_hooks = [h for h in _base_.custom_hooks if h.type != 'TargetEMAHook']
