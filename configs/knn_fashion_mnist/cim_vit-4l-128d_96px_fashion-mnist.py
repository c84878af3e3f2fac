# CIM on Fashion-MNIST class folders without their labels, for the k-NN
# study of docs/knn.md (CIM vs mmpretrain's MAE vs random init, same ViT, same
# 96 x 96 input, same number of iterations; the study trains the
# *_knn-monitor.py variants with tools/analysis_tools/knn_fashion_mnist.sh):
#   python tools/analysis_tools/fashion_mnist_folders.py data/fashion_mnist
#   python tools/train.py configs/knn_fashion_mnist/cim_vit-4l-128d_96px_fashion-mnist.py \
#       --cfg-options train_cfg.max_iters=1000
# The demo's model and pairs (4-layer 128-d ViT/16, 96 px contexts, 48 px
# exemplars, no exemplar photometric augmentation), lr 1e-3 after 60 warmup
# iterations, then constant, so a run's first N iterations are those of any
# longer run: the budget is max_iters (or a stop).
_base_ = ['../cim_demo.py']

data_root = 'data/fashion_mnist/'
train_dataloader = dict(
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, data_prefix='train'))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=1000000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0,
         end=60),
    dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=60),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=2))
