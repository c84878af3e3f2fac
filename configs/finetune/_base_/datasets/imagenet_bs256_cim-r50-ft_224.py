# ImageNet-1K data of the 300-epoch ResNet-50 fine-tuning (paper Table 11,
# the "ResNet strikes back" A2 setting): 224 train / 224 test, RandAugment
# 7 / 0.5, repeated augmentation (3 repeats, timm's default), no random
# erasing; 256 images per GPU (8 GPUs -> batch 2048).
_base_ = ['imagenet_bs256_cim-vit-ft_224.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=7,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    sampler=dict(type='RepeatAugSampler', shuffle=True, num_repeats=3),
    dataset=dict(pipeline=train_pipeline))
