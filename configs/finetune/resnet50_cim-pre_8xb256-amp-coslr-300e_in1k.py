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
_base_ = [
    '_base_/models/resnet50_cim-ft.py',
    '_base_/datasets/imagenet_bs256_cim-r50-ft_224.py',
    '_base_/schedules/cim-r50-ft_adamw-coslr-100e_bs2048.py',
    '_base_/finetune_runtime.py',
]

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=295, eta_min=1e-6, by_epoch=True,
         begin=5, end=300, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
