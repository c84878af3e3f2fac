# cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py with the release's
# exemplar augmentation (the ImageNet configs' photometric recipe and flip
# p=0.5; off in the demo and the other Fashion-MNIST configs), for the k-NN
# study of docs/knn.md:
#   METHODS=cim-exaug bash tools/analysis_tools/knn_fashion_mnist.sh
_base_ = ['cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py']

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadCheckedImage'),
        dict(
            type='DrawCorrelationalPair',
            context_size=_base_.context_size,
            exemplar_size=_base_.exemplar_size,
            exemplar_augmentation=_base_.exemplar_augmentation,
            exemplar_flip_prob=0.5),
        dict(type='PackCIMInputs'),
    ]))
