# ImageNet-1K fine-tuning of a CIM-pre-trained ResNet-50, 100 epochs (paper
# Table 11, "100 epoch FT"; paper top-1 78.6 after 300 epochs of CIM
# pre-training, configs/cim_r50_300e.py). The "ResNet strikes back" A3
# setting with AdamW: train 160 / test 224 (crop ratio 0.95), lr 12e-3 at
# 8 GPUs x 256 = 2048, wd 0.02, RandAugment 6 / 0.5, Mixup 0.1, CutMix 1.0,
# binary cross-entropy with label smoothing 0.1, no repeated augmentation.
#
# python tools/model_converters/convert_cim.py \
#     work_dirs/cim_r50_300e/epoch_300.pth work_dirs/cim_r50_300e/backbone.pth --to mmpretrain
# bash tools/dist_train.sh configs/finetune/resnet50_cim-pre_8xb256-amp-coslr-100e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_r50_300e/backbone.pth
#
# mmpretrain's ResNet-50 "ResNet strikes back" A3 data; below only what CIM's
# recipe changes.
_base_ = [
    '_base_/models/resnet50_cim-ft.py',
    'mmpretrain::_base_/datasets/imagenet_bs256_rsb_a3.py',
    '_base_/schedules/cim-r50-ft_adamw-coslr-100e_bs2048.py',
    '_base_/test-crop0.95_loaders.py',
    '_base_/finetune_runtime.py',
]

# model settings
model = dict(
    # mmpretrain's, in the model too: `MODELS.build(cfg.model)` alone needs it
    data_preprocessor=dict(
        type='ClsDataPreprocessor', **_base_.data_preprocessor),
    head=dict(
        loss=dict(
            _delete_=True,
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original',
            use_sigmoid=True,  # BCE on smoothed (and mixed) targets
            loss_weight=1 / 1000)))  # see _base_/models/resnet50_cim-ft.py

# dataset settings
data_root = 'data/imagenet'  # where mmpretrain's loaders read ImageNet too
# train at 160 (timm's A3), not 224; RandAugment 6 / 0.5 as mmpretrain's A3
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=160,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=6,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs'),
]
# test crop ratio 0.95 (235 short side, 224 crop)
test_pipeline = _base_.crop095_test_pipeline
train_dataloader = dict(
    **_base_.loader_workers,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    **_base_.loader_workers,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
