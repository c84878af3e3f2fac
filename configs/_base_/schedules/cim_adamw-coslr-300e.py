# Table 9: AdamW (0.9, 0.95), wd 0.05, lr 1.5e-4 x batch / 256 = 2.4e-3 at 4096,
# 40 warmup epochs then per-iteration cosine to 0, 300 epochs, grad clip 1.0.
optim_wrapper = dict(
    # bf16 autocast, no loss scaler (cim_mm.engine.BF16OptimWrapper).
    # tools/train.py: fp16 AmpOptimWrapper on a GPU without bf16, fp32 on a
    # machine without GPU. fp16: optim_wrapper.type=AmpOptimWrapper.
    type='BF16OptimWrapper',
    # fused: one kernel per step, and it takes the found_inf flag with which
    # NonFiniteGuardHook (custom_hooks below) withholds a non-finite step on
    # the device, without a host sync.
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
                   weight_decay=0.05, fused=True),
    clip_grad=dict(max_norm=1.0),
    # no per-parameter warnings for the frozen EMA target / patch embedding
    constructor='FrozenAwareOptimWrapperConstructor',
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys=dict(
            pos_embed=dict(decay_mult=0.0),
            cls_token=dict(decay_mult=0.0))))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, eta_min=0.0, by_epoch=True,
         begin=40, end=300, convert_to_iter_based=True),
]

# EpochBasedTrainLoop that resumes a mid-epoch checkpoint where it was saved.
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=300)

# `--auto-scale-lr` rescales lr linearly to the real total batch size.
auto_scale_lr = dict(base_batch_size=4096, enable=False)

# The target encoder's momentum rises 0.99 -> 1.0 on a cosine over training;
# the images LoadCheckedImage skipped are counted in the log (the run stops
# when more than 10% of the distinct files tried, at least 20, are skipped);
# an optimizer step with a NaN/Inf loss or gradients changes neither the
# weights, the optimizer state nor the target (decided on the device with the
# fused AdamW above), it is logged at the logger's interval, and 10 in a row
# stop the run (docs/pretrain_imagenet.md#non-finite-losses).
custom_hooks = [
    dict(type='TargetEMAHook', momentum=0.99, end_momentum=1.0),
    dict(type='SkippedImagesHook', max_skipped_fraction=0.1, min_files=20),
    dict(type='NonFiniteGuardHook', max_consecutive=10),
]
