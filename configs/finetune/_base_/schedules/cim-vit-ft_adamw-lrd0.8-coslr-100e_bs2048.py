# CIM ViT fine-tuning schedule (paper Table 10), 100 epochs (ViT-B).
# AdamW, lr = 1.2e-3 x batch / 256 = 9.6e-3 at 2048, betas (0.9, 0.999),
# weight decay 0.05 except on 1-D parameters (norms, biases) and the
# pos/cls tokens, layer-wise lr decay 0.8, no gradient clipping; 5 linear
# warmup epochs then cosine to 1e-6, both updated every iteration.
optim_wrapper = dict(
    # fp16 AMP with a dynamic loss scale on GPU (tools/train.py switches to
    # bf16 autocast on a machine without a GPU)
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=1.2e-3 * 2048 / 256, betas=(0.9, 0.999),
        weight_decay=0.05),
    # lr of backbone layer i (embeddings 0, blocks 1..12, rest 13):
    # lr x 0.8 ** (13 - i); the head and the final norm get the full lr.
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.8,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, eta_min=1e-6, by_epoch=True,
         begin=5, end=100, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# `--auto-scale-lr` rescales lr linearly to the real total batch size.
auto_scale_lr = dict(base_batch_size=2048, enable=False)
