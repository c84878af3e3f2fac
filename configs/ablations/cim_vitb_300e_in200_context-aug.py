# Table 1d, "context and exemplar" row: the exemplars' photometric
# augmentation applied to the context as well (the context is already flipped
# with p=0.5 as part of its random resized crop, as in the release).
# (Add `--cfg-options train_dataloader.dataset.pipeline.1.exemplar_transforms=[]`
# for the "context only" row.)
_base_ = ['../cim_vitb_300e_in200.py']

_photometric = [
    dict(type='RandomApply',
         transforms=[dict(type='FastColorJitter', brightness=0.4,
                          contrast=0.4, saturation=0.2, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.299)),
    dict(type='FastGaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
    dict(type='Solarize', thr=128, prob=0.2),
]
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='CorrelationalCrop', context_transforms=_photometric),
        dict(type='PackCIMInputs'),
    ]))
