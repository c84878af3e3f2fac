# cim_vitb_300e.py watched by k-NN (docs/pretrain_imagenet.md): every 10
# epochs the online encoder's features of 10 training images per class
# (10,000, the memory) classify the first 10,000 validation images (the
# queries; meta/val.txt is in no class order, ~10 per class), 224 px centre
# crops, k=20, T=0.07; knn/top1 and knn/top5 in
# work_dir/<timestamp>/vis_data/scalars.json. The memory list, once:
#   awk '{split($1, p, "/"); if (n[p[1]]++ < 10) print}' \
#       data/imagenet/meta/train.txt > data/imagenet/meta/train_10pc.txt
# Each rank reads 1/8 of the 20,000 images; cost: docs/benchmarks.md
# (k-NN monitor).
_base_ = ['cim_vitb_300e.py']

knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
custom_hooks = [
    *_base_.custom_hooks,
    dict(
        type='KNNMonitorHook',
        by_epoch=True,
        interval=10,
        memory=dict(
            batch_size=128,
            num_workers=8,
            dataset=dict(type='ImageNet', data_root=_base_.data_root,
                         split='train', ann_file='meta/train_10pc.txt',
                         pipeline=knn_pipeline)),
        query=dict(
            batch_size=128,
            num_workers=8,
            dataset=dict(type='ImageNet', data_root=_base_.data_root,
                         split='val', indices=10000,
                         pipeline=knn_pipeline))),
]
