# CIM ViT-B/16 as cim_vitb_300e.py, its pairs made by the one batched pair
# synthesis (opt-in for now): DrawCorrelationalPair draws each pair in the
# worker (the same geometry draws), and one torch function makes the context,
# the exemplars with the release's photometric augmentation (torchvision's
# definitions, each exemplar's jitter in its own order) and the maps, batched:
# in CIMDataPreprocessor on the model's device (GPU or CPU alike), or, on a
# machine without a GPU, in the DataLoader workers with
#   --cfg-options train_dataloader.collate_fn.type=pair_synthesis_collate
# Either way the same config and seed give the same pairs (maps identical,
# pixels within 1 grey level; bit-identical for any number of workers).
_base_ = ['cim_vitb_300e.py']

train_pipeline = [
    dict(type='LoadCheckedImage', min_size=32),
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
        exemplar_augmentation=_base_.exemplar_augmentation_recipe,
        context_augmentation=None,  # Table 1d: exemplars only
        exemplar_region='enclosing'),
    dict(type='PackCIMInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
