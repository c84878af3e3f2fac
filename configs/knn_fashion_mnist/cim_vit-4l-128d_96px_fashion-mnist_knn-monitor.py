# cim_vit-4l-128d_96px_fashion-mnist.py with its k-NN accuracy logged every
# 1,000 iterations (knn_monitor.py: 1,000 queries, 1,000 memory images) as
# knn/top1 and knn/top5 in work_dir/<timestamp>/vis_data/scalars.json:
#   python tools/analysis_tools/fashion_mnist_folders.py data/fashion_mnist_knn \
#       --train-per-class 100 --test-per-class 100
#   python tools/train.py configs/knn_fashion_mnist/cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py
# The evaluations take time from a wall-clock budget: the runs of
# docs/benchmarks.md use the configs without the monitor.
_base_ = ['cim_vit-4l-128d_96px_fashion-mnist.py', 'knn_monitor.py']

custom_hooks = [*_base_.custom_hooks, _base_.knn_monitor]
