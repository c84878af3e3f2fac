# CIM ResNet-50 fine-tuning schedule (paper Table 11), 100 epochs.
# AdamW lr 12e-3 at batch 2048, weight decay 0.02 (none on BN and biases, as
# timm does for "ResNet strikes back"), no layer-wise decay, no gradient
# clipping; 5 linear warmup epochs then cosine to 1e-6, per iteration.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=12e-3, betas=(0.9, 0.999), weight_decay=0.02),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, eta_min=1e-6, by_epoch=True,
         begin=5, end=100, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=2048, enable=False)
