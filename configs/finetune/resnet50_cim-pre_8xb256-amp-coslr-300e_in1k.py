# ImageNet-1K fine-tuning of a CIM-pre-trained ResNet-50, 300 epochs (paper
# Table 11, "300 epoch FT"; paper top-1 80.1 after 300 epochs of CIM
# pre-training, configs/cim_r50_300e.py). The "ResNet strikes back" A2
# setting with AdamW: train 224 / test 224 (crop ratio 0.95), lr 12e-3 at
# 8 GPUs x 256 = 2048, wd 0.02, RandAugment 7 / 0.5, Mixup 0.1, CutMix 1.0,
# repeated augmentation, binary cross-entropy without label smoothing.
#
# python tools/model_converters/convert_cim.py \
#     work_dirs/cim_r50_300e/epoch_300.pth work_dirs/cim_r50_300e/backbone.pth --to mmpretrain
# bash tools/dist_train.sh configs/finetune/resnet50_cim-pre_8xb256-amp-coslr-300e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_r50_300e/backbone.pth
#
# mmpretrain's ResNet-50 "ResNet strikes back" A1/A2 data; below only what
# CIM's recipe changes.
_base_ = [
    '_base_/models/resnet50_cim-ft.py',
    'mmpretrain::_base_/datasets/imagenet_bs256_rsb_a12.py',
    '_base_/schedules/cim-r50-ft_adamw-coslr-100e_bs2048.py',
    '_base_/test-crop0.95_loaders.py',
    '_base_/finetune_runtime.py',
]

# model settings
model = dict(
    # mmpretrain's, in the model too: `MODELS.build(cfg.model)` alone needs it
    data_preprocessor=dict(
        type='ClsDataPreprocessor', **_base_.data_preprocessor))

# dataset settings
data_root = 'data/imagenet'  # where mmpretrain's loaders read ImageNet too
# test crop ratio 0.95 (235 short side, 224 crop)
test_pipeline = _base_.crop095_test_pipeline
train_dataloader = dict(
    **_base_.loader_workers,
    # repeated augmentation, 3 repeats (timm's default)
    sampler=dict(type='RepeatAugSampler', shuffle=True, num_repeats=3))
val_dataloader = dict(
    **_base_.loader_workers,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule settings
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=295, eta_min=1e-6, by_epoch=True,
         begin=5, end=300, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
