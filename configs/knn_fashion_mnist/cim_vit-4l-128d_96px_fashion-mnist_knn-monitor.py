# cim_vit-4l-128d_96px_fashion-mnist.py with its k-NN accuracy logged at
# iteration 0 and every 1,000 iterations (knn_monitor.py: 1,000 queries,
# 1,000 memory images) as knn/top1 and knn/top5 in
# work_dir/<timestamp>/vis_data/scalars.json:
#   python tools/analysis_tools/fashion_mnist_folders.py data/fashion_mnist_knn \
#       --train-per-class 100 --test-per-class 100
#   python tools/train.py configs/knn_fashion_mnist/cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py
# The study of docs/knn.md trains it, and the MAE variant, over seeds with an
# iteration budget (tools/analysis_tools/knn_fashion_mnist.sh); the
# evaluations take time but no iterations.
_base_ = ['cim_vit-4l-128d_96px_fashion-mnist.py', 'knn_monitor.py']

custom_hooks = [*_base_.custom_hooks, _base_.knn_monitor]
