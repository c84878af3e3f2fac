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
_base_ = [
    '_base_/models/resnet50_cim-ft.py',
    '_base_/datasets/imagenet_bs256_cim-r50-ft_160.py',
    '_base_/schedules/cim-r50-ft_adamw-coslr-100e_bs2048.py',
    '_base_/finetune_runtime.py',
]

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original',
            use_sigmoid=True,  # BCE on smoothed (and mixed) targets
            loss_weight=1 / 1000)))  # see _base_/models/resnet50_cim-ft.py
