# ImageNet-1K exemplar-context pairs (context 160, 6 exemplars of 64).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

# The CIM release's exemplar augmentation (torchvision's definitions):
# ColorJitter(0.4, 0.4, 0.2, 0.1) with p=0.8, its four adjustments in a random
# order per exemplar; grayscale p=0.2; Gaussian blur with sigma in [0.1, 2]
# p=0.5; solarize at 128 p=0.2. The exemplar flip is exemplar_flip_prob.
exemplar_augmentation = dict(
    jitter_prob=0.8,
    brightness=(0.6, 1.4),
    contrast=(0.6, 1.4),
    saturation=(0.8, 1.2),
    hue=(-0.1, 0.1),
    gray_prob=0.2,
    blur_prob=0.5,
    blur_sigma=(0.1, 2.0),
    solarize_prob=0.2)

train_pipeline = [
    # Undecodable, truncated or too small files are skipped and logged by
    # name (on_bad_image='raise' stops at the first); SkippedImagesHook
    # counts them and stops a run that skips more than 10% of its files.
    dict(type='LoadCheckedImage', min_size=32),
    # Draws the pair in the worker (search image, geometry, augmentation
    # values); one batched function builds its pixels and maps: on the GPU
    # in CIMDataPreprocessor, or in the workers on a machine without one
    # (train_dataloader.collate_fn.type=pair_synthesis_collate). The same
    # pairs either way (docs/pretrain_imagenet.md#how-a-pair-is-built).
    dict(
        type='DrawCorrelationalPair',
        context_size=160,
        exemplar_size=64,
        num_exemplars=6,
        search_size=224,
        search_scale=(0.5, 1.0),
        scale_range=(0.05, 0.48),
        ratio_range=(1 / 3, 3),
        rotation_range=(-45, 45),
        exemplar_flip_prob=0.5,
        exemplar_augmentation=exemplar_augmentation,
        context_augmentation=None,  # Table 1d: exemplars only
        exemplar_region='enclosing'),  # the release: rotated rect around the box
    dict(type='PackCIMInputs'),
]

train_dataloader = dict(
    batch_size=512,
    num_workers=16,
    persistent_workers=True,
    pin_memory=True,
    # DefaultSampler's order; each index carries (seed, epoch), from which
    # LoadCheckedImage seeds the sample's draws (the same pairs with any
    # number of workers and after a resume), and an epoch can start part-way
    # (ResumableEpochBasedTrainLoop continues a mid-epoch checkpoint).
    sampler=dict(type='ResumableSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
