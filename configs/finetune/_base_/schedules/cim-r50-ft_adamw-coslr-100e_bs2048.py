# CIM ResNet-50 fine-tuning schedule (paper Table 11), 100 epochs:
# mmpretrain's "ResNet strikes back" schedule (batch 2048, weight decay 0.02,
# 5 warmup epochs, cosine to 1e-6) with AdamW lr 12e-3 instead of LAMB,
# no weight decay on BN and biases (as timm does for "ResNet strikes back"),
# no layer-wise decay, no gradient clipping, fp16 AMP.
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs2048_rsb.py']

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=12e-3, betas=(0.9, 0.999)),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

# the cosine part too is updated every iteration
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, eta_min=1e-6, by_epoch=True,
         begin=5, end=100, convert_to_iter_based=True),
]

auto_scale_lr = dict(enable=False)
