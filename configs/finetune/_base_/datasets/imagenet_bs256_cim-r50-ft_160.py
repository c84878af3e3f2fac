# ImageNet-1K data of the 100-epoch ResNet-50 fine-tuning (paper Table 11,
# the "ResNet strikes back" A3 setting): 160 train / 224 test, RandAugment
# 6 / 0.5, no repeated augmentation, no random erasing; 256 images per GPU
# (8 GPUs -> batch 2048).
_base_ = ['imagenet_bs256_cim-vit-ft_224.py']

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

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
