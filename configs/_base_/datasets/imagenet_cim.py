# ImageNet-1K exemplar-context pairs (context 160, 6 exemplars of 64).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

# The CIM release's exemplar augmentation (jitter, grayscale, blur, solarize).
exemplar_augmentation = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='FastColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.299)),
    dict(
        type='FastGaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
    dict(type='Solarize', thr=128, prob=0.2),
]

# The same recipe in the vocabulary of the one batched pair synthesis
# (DrawCorrelationalPair; torchvision's definitions), opt-in for now:
# configs/cim_vitb_300e_batched-pairs.py.
exemplar_augmentation_recipe = dict(
    jitter_prob=0.8,  # ColorJitter(0.4, 0.4, 0.2, 0.1), random order
    brightness=(0.6, 1.4),
    contrast=(0.6, 1.4),
    saturation=(0.8, 1.2),
    hue=(-0.1, 0.1),
    gray_prob=0.2,
    blur_prob=0.5,
    blur_sigma=(0.1, 2.0),
    solarize_prob=0.2)  # threshold 128

train_pipeline = [
    # Undecodable, truncated or too small files are skipped and logged by
    # name (on_bad_image='raise' stops at the first); SkippedImagesHook
    # counts them and stops a run that skips more than 10% of its files.
    dict(type='LoadCheckedImage', min_size=32),
    # Draws the pair in the worker; its pixels (context, exemplars and their
    # augmentation, maps) are built on the GPU by CIMDataPreprocessor, or in
    # the worker without a GPU (pixels='auto'; see CorrelationalPairParams).
    dict(
        type='CorrelationalPairParams',
        context_size=160,
        exemplar_size=64,
        num_exemplars=6,
        search_size=224,
        search_scale=(0.5, 1.0),
        scale_range=(0.05, 0.48),
        ratio_range=(1 / 3, 3),
        rotation_range=(-45, 45),
        exemplar_flip_prob=0.5,
        exemplar_transforms=exemplar_augmentation,
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
