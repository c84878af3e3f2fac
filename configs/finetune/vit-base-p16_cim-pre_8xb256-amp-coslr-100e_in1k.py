# ImageNet-1K fine-tuning of a CIM-pre-trained ViT-B/16 (paper Table 10;
# paper top-1 83.1 after 300 epochs of CIM pre-training with
# configs/cim_vitb_300e.py).
# 100 epochs, 8 GPUs x 256 = 2048, AdamW lr 9.6e-3, layer decay 0.8, AMP.
#
# python tools/model_converters/convert_cim.py \
#     work_dirs/cim_vitb_300e/epoch_300.pth work_dirs/cim_vitb_300e/backbone.pth --to mmpretrain
# bash tools/dist_train.sh configs/finetune/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_vitb_300e/backbone.pth
#
# mmpretrain's ViT-B/16 classifier, DeiT-style ImageNet data and ViT AdamW
# schedule at batch 2048; below only what CIM's recipe changes (the same
# MAE-style fine-tuning as mmpretrain's mae/benchmarks ViT-B config, which
# cannot be a base here: its runtime would clash with cim_mm's).
_base_ = [
    'mmpretrain::_base_/models/vit-base-p16.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs2048_AdamW.py',
    '_base_/test-crop0.95_loaders.py',
    '_base_/finetune_runtime.py',
]

# model settings
# cim_mm's CIMViT uses VisionTransformer's parameter names, so the ONLINE
# encoder of a CIM checkpoint loads into the plain backbone. As in MAE-style
# fine-tuning the position embedding becomes learnable (initialised from the
# checkpoint's fixed 2-D sin-cos values) and the patch embedding (frozen in
# pre-training) is trained. `init_cfg.checkpoint` must be set by the user to
# the converted online encoder (backbone keys without a prefix, hence no
# `prefix`); the placeholder fails loudly (file not found) if left unset.
model = dict(
    # mmpretrain's, in the model too: `MODELS.build(cfg.model)` alone needs it
    data_preprocessor=dict(
        type='ClsDataPreprocessor', **_base_.data_preprocessor),
    backbone=dict(
        _delete_=True,  # no dropout (drop_rate), no Kaiming init
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        # mean of the patch tokens (cls excluded), then a new norm `ln2`
        # ("fc_norm"); the pre-trained last-block norm `ln1` is unused, so
        # loading reports `ln1.*` unexpected and `ln2.*` missing: expected.
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='SET_ME--model.backbone.init_cfg.checkpoint')),
    head=dict(
        type='LinearClsHead',  # on the pooled feature, no pre-logits layer
        loss=dict(mode='original'),  # timm's label smoothing 0.1
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    # Mixup 0.8 / CutMix 1.0, one of the two per batch with equal chance
    # (timm's switch_prob 0.5), on the ClsDataPreprocessor's one-hot scores.
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))

# dataset settings
# mmpretrain's train pipeline as is (RandAugment 9 / 0.5: timm's
# 'rand-m9-mstd0.5-inc1'; random erasing 0.25 with per-pixel noise).
data_root = 'data/imagenet'  # where mmpretrain's loaders read ImageNet too
# test crop ratio 0.95 (235 short side, 224 crop)
test_pipeline = _base_.crop095_test_pipeline
# 256 images per GPU (8 GPUs -> the paper's batch 2048)
train_dataloader = dict(batch_size=256, **_base_.loader_workers)
val_dataloader = dict(
    batch_size=256,
    **_base_.loader_workers,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule settings
optim_wrapper = dict(
    # fp16 AMP with a dynamic loss scale on GPU (tools/train.py switches to
    # bf16 autocast on a machine without a GPU)
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    # lr = 1.2e-3 x batch / 256; no decay on 1-D parameters (norms, biases)
    # nor, as in mmpretrain's base, on the pos/cls tokens
    optimizer=dict(
        lr=1.2e-3 * 2048 / 256, betas=(0.9, 0.999), weight_decay=0.05),
    # lr of backbone layer i (embeddings 0, blocks 1..12, rest 13):
    # lr x 0.8 ** (13 - i); the head and the final norm get the full lr.
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, flat_decay_mult=0.0))

# 5 linear warmup epochs then cosine to 1e-6, both updated every iteration
warmup_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=100 - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)

# `--auto-scale-lr` rescales lr linearly to the real total batch size.
auto_scale_lr = dict(enable=False)
