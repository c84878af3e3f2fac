# Table 1d, "context and exemplar" row: the exemplars' photometric
# augmentation applied to the context as well (the context is already flipped
# with p=0.5 as part of its random resized crop, as in the release).
# (Add `--cfg-options train_dataloader.dataset.pipeline.1.exemplar_augmentation=None`
# for the "context only" row.)
_base_ = ['../cim_vitb_300e_in200.py']

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadCheckedImage'),
        dict(
            type='DrawCorrelationalPair',
            exemplar_augmentation=_base_.exemplar_augmentation,
            context_augmentation=_base_.exemplar_augmentation),
        dict(type='PackCIMInputs'),
    ]))
