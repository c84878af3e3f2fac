# A tiny mmpretrain classifier that trains on CPU in seconds: the tests of
# cim_mm.compat and of tools/ use it to exercise checkpoints, resume, load_from
# and distributed launch without depending on the CIM model. It switches on
# the stack adaptations and selects the runner, checkpoint hook and model
# wrapper of the shipped runtime (configs/_base_/default_runtime.py).
# The tests set `<split>_dataloader.dataset.data_root` of every split to a
# folder with one sub-folder of images per class (--cfg-options).
custom_imports = dict(imports=['cim_mm', 'cim_mm.compat.enable'],
                      allow_failed_imports=False)
default_scope = 'mmpretrain'

data_root = 'data/toy'  # replaced by the tests
image_size = 32

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=3,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=32, num_layers=2, num_heads=2,
            feedforward_channels=64),
        img_size=image_size,
        patch_size=8,
        out_type='cls_token'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss')))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=image_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset', data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset', data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=False,
                        begin=0, end=4)]
auto_scale_lr = dict(base_batch_size=4)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
log_processor = dict(by_epoch=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl as in real configs: on a machine without a GPU CIMRunner
    # replaces it by gloo.
    dist_cfg=dict(backend='nccl'))
runner_type = 'CIMRunner'
model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                         broadcast_buffers=False,
                         find_unused_parameters=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
