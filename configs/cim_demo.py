# A CIM pre-training demo that runs on 2 CPU cores in a few minutes
# (`make demo`): a 6-layer 192-d ViT/16, batch 16, 300 iterations on the
# photos that `tools/demo.py` writes to data/cim_demo (train/ and val/).
# Everything else (pairs, decoder, loss, EMA target) is the paper's recipe;
# the lr is raised because 300 small-batch steps are far from 300 epochs.
_base_ = [
    '_base_/models/cim_vit-base-p16.py',
    '_base_/datasets/imagenet_cim.py',
    '_base_/schedules/cim_adamw-coslr-300e.py',
    '_base_/default_runtime.py',
]

data_root = 'data/cim_demo/'
max_iters = 300

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=6, num_heads=3,
                  feedforward_channels=768)),
    neck=dict(in_channels=192, embed_dim=256, num_heads=8))

train_pipeline = {{_base_.train_pipeline}}
val_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))

val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        with_label=False,
        pipeline=val_pipeline))
val_evaluator = dict(type='CorrelationIoU')
val_cfg = dict()
test_dataloader = val_dataloader
test_evaluator = val_evaluator
test_cfg = dict()

optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.05),
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
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters - 30, eta_min=1e-5,
         by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=16)

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
log_processor = dict(by_epoch=False)
