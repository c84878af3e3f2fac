# ImageNet classifier on a CIM-pre-trained ViT-B/16 (paper Table 10).
#
# The backbone is mmpretrain's plain VisionTransformer: cim_mm's CIMViT uses
# the same parameter names, so the ONLINE encoder of a CIM checkpoint loads
# into it. Differences from pre-training, as in MAE-style fine-tuning:
# - the position embedding becomes learnable, initialised from the fixed
#   2-D sin-cos values stored in the checkpoint;
# - the patch embedding (frozen at its random init in pre-training) is trained;
# - global average pooling of the patch tokens followed by a new LayerNorm
#   (`out_type='avg_featmap'` -> `ln2`, the "fc_norm"); the pre-trained final
#   norm (`ln1`) is not used (`final_norm=False`), so loading reports `ln1.*`
#   as unexpected and `ln2.*` as missing keys: that is expected.
#
# `init_cfg.checkpoint` must be set by the user: the online encoder converted
# from the pre-training runner checkpoint (cim_mm loads runner checkpoints
# outside the runner only as weights, and init_cfg wants backbone keys):
#   python tools/model_converters/convert_cim.py \
#       work_dirs/cim_vitb_300e/epoch_300.pth work_dirs/cim_vitb_300e/backbone.pth \
#       --to mmpretrain
#   ... --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_vitb_300e/backbone.pth
# (the converted file holds backbone keys without a prefix, hence no `prefix`
# here). The placeholder below fails loudly (file not found) if left unset.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=1000,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='avg_featmap',  # mean of the patch tokens (cls excluded) ...
        final_norm=False,        # ... then `ln2`, not the last-block norm
        init_cfg=dict(
            type='Pretrained',
            checkpoint='SET_ME--model.backbone.init_cfg.checkpoint')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    # Mixup 0.8 / CutMix 1.0, one of the two per batch with equal chance
    # (timm's switch_prob 0.5), on the ClsDataPreprocessor's one-hot scores.
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
