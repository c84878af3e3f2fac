# What the fine-tuning configs share beyond mmpretrain's dataset bases
# (variables only: those bases already define the dataloaders).

# Test crop ratio 0.95: resize the short side to floor(224 / 0.95) = 235
# (timm's / MAE's rounding), then a 224 center crop.
crop095_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=235,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# Loader workers per GPU.
loader_workers = dict(num_workers=10, persistent_workers=True, pin_memory=True)
