# Table 4, "TransTrack" = TransT (Chen et al., CVPR 2021, the paper's [15])
# trained on CIM's pairs: top-1 89.54 after fine-tuning (CIM 90.12, scratch
# 77.79).
# Read as trackers are built: one shared (siamese) ViT-B/16 encodes exemplars
# and contexts (bootstrap='shared', no EMA target); TransT's feature fusion
# (4 layers of self-attention on each branch and cross-attention both ways,
# then cross-attention into the context) and its heads: per context token a
# logit (inside the exemplar's enclosing box or not; BCE, negatives weighted
# 1/16) and a box (cx, cy, w, h; L1 + GIoU). Pairs, schedule and fine-tuning
# are CIM's (cim_vitb_300e_in200.py; configs/finetune/).
_base_ = ['../cim_vitb_300e_in200.py']

model = dict(
    bootstrap='shared',
    neck=dict(
        _delete_=True,
        type='TransTFeatureFusion',
        in_channels=768,
        embed_dim=256,
        num_heads=8,
        num_layers=4,
        feedforward_channels=2048,
        dropout=0.1),
    head=dict(
        _delete_=True,
        type='TransTHead',
        embed_dim=256,  # the neck's embed_dim
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True),
        neg_weight=1 / 16,
        cls_weight=8.334,
        l1_weight=5.,
        giou_weight=2.))

# No target encoder to average: drop TargetEMAHook, keep the other hooks.
custom_hooks = [h for h in _base_.custom_hooks if h.type != 'TargetEMAHook']
