# A CIM pre-training demo that runs on 2 CPU cores in a few minutes
# (`make demo`) on the photos that `tools/demo.py` writes to data/cim_demo
# (train/ and val/). The method is the paper's (pairs with random scale,
# shape and rotation, EMA target on the context, cross-attention decoder,
# per-pixel BCE); what differs, so that a few hundred CPU steps learn
# something visible:
# - a 4-layer 128-d ViT/16 and a 128-d decoder;
# - 96x96 contexts and 48x48 exemplars (6x6 and 3x3 tokens) instead of
#   160 and 64;
# - no photometric augmentation or flip of the exemplars (Table 1d's
#   "no transformation" row): with the release's augmentation, 600 steps
#   only learn the location prior (see docs/demo.md);
# - lr 1e-3, batch 16, 600 iterations, 60 warmup iterations;
# - held out: 32 fixed draws of pairs from each of the 4 held-out photos.
_base_ = [
    '_base_/models/cim_vit-base-p16.py',
    '_base_/datasets/imagenet_cim.py',
    '_base_/schedules/cim_adamw-coslr-300e.py',
    '_base_/default_runtime.py',
]

data_root = 'data/cim_demo/'
max_iters = 600
context_size = 96
exemplar_size = 48

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=128, num_layers=4, num_heads=4,
                  feedforward_channels=512)),
    neck=dict(in_channels=128, embed_dim=128, num_heads=4,
              out_size=context_size))

train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(
        type='DrawCorrelationalPair',
        context_size=context_size,
        exemplar_size=exemplar_size,
        exemplar_augmentation=None,
        exemplar_flip_prob=0.0),
    dict(type='PackCIMInputs'),
]
val_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    # Per-sample seeded draws; a resume starts the sampler where it stopped.
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))

# The held-out pairs: held_out_draws keyed draws of each held-out photo
# (KeyedRepeatDataset), in order, keyed with the val sampler's own seed: the
# same pairs whatever the run's seed (randomness.seed), and enough maps that
# another draw moves the IoU by about a point (docs/demo.md).
held_out_draws = 32
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='ResumableSampler', shuffle=False, seed=0),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='KeyedRepeatDataset',
        times=held_out_draws,
        dataset=dict(
            type='CustomDataset',
            data_root=data_root,
            data_prefix='val',
            with_label=False,
            pipeline=val_pipeline)))
val_evaluator = dict(type='CorrelationIoU')
# Two fixed training pairs with the predictions every 200 iterations, under
# work_dir/<timestamp>/vis_data/vis_image/ (docs/pretrain_own_images.md).
custom_hooks = [
    *_base_.custom_hooks,
    dict(type='CorrelationMapVisualizationHook', interval=200),
]
val_cfg = dict()
test_dataloader = val_dataloader
test_evaluator = val_evaluator
test_cfg = dict()

# fp32 on CPU; everything else as the paper's schedule (wd, betas, clipping).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=1e-3))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=60),
    dict(type='CosineAnnealingLR', T_max=max_iters - 60, eta_min=1e-5,
         by_epoch=False, begin=60, end=max_iters),
]
train_cfg = dict(
    _delete_=True, type='ResumableIterBasedTrainLoop', max_iters=max_iters,
    val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=16)

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
log_processor = dict(by_epoch=False)
