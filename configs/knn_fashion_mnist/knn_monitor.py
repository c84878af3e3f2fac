# The k-NN monitor of the Fashion-MNIST runs (docs/knn.md), a fragment for
# the *_knn-monitor.py configs: at iteration 0 (the random initialisation)
# and every 1,000 iterations, 1,000 test images
# (100 per class) classified by their 20 nearest among 1,000 training images
# (100 per class), 96 px, features of the online encoder (CIM) or the
# unmasked encoder (MAE). Its folders, once:
#   python tools/analysis_tools/fashion_mnist_folders.py data/fashion_mnist_knn \
#       --train-per-class 100 --test-per-class 100
# Cost: docs/benchmarks.md (k-NN monitor).
knn_data_root = 'data/fashion_mnist_knn/'
# knn_eval.py's pipeline at --input-size 96: short side to 96 / 0.875,
# 96 x 96 centre crop (cim_mm.evaluation.knn.knn_pipeline(96))
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=110, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=96),
    dict(type='PackInputs'),
]
knn_monitor = dict(
    type='KNNMonitorHook',
    interval=1000,
    at_start=True,
    memory=dict(
        batch_size=64,
        num_workers=1,
        dataset=dict(type='CustomDataset', data_root=knn_data_root,
                     data_prefix='train', pipeline=knn_pipeline)),
    query=dict(
        batch_size=64,
        num_workers=1,
        dataset=dict(type='CustomDataset', data_root=knn_data_root,
                     data_prefix='test', pipeline=knn_pipeline)))
