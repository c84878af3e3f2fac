# mae_vit-4l-128d_96px_fashion-mnist.py with the same k-NN monitor as the CIM
# run (knn_monitor.py), so that the two curves compare on one footing: the
# MAEViT encoder unmasked, every 1,000 iterations.
#   python tools/train.py configs/knn_fashion_mnist/mae_vit-4l-128d_96px_fashion-mnist_knn-monitor.py
_base_ = ['mae_vit-4l-128d_96px_fashion-mnist.py', 'knn_monitor.py']

custom_hooks = [_base_.knn_monitor]
