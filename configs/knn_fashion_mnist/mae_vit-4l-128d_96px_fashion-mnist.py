# mmpretrain's MAE with CIM's Fashion-MNIST budget (see
# cim_vit-4l-128d_96px_fashion-mnist.py): the same 4-layer 128-d ViT/16 at
# 96 x 96, a 2-layer 128-d decoder, 75% masking, normalised-pixel loss; batch,
# optimizer (AdamW lr 1e-3, betas (0.9, 0.95), wd 0.05), warmup and constant
# lr as the CIM run.
#   python tools/train.py configs/knn_fashion_mnist/mae_vit-4l-128d_96px_fashion-mnist.py \
#       --cfg-options train_cfg.max_iters=1000
_base_ = ['mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='MAEViT',
        arch=dict(embed_dims=128, num_layers=4, num_heads=4,
                  feedforward_channels=512),
        img_size=96,
        patch_size=16,
        mask_ratio=0.75),
    neck=dict(num_patches=36, embed_dim=128, decoder_embed_dim=128,
              decoder_depth=2, decoder_num_heads=4))

data_root = 'data/fashion_mnist/'
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=96,
                 crop_ratio_range=(0.2, 1.0), backend='pillow',
                 interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ]))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1000000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0,
         end=60),
    dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=60),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=2))
resume = False
auto_scale_lr = dict(enable=False)
log_processor = dict(by_epoch=False)
