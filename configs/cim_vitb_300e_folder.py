# CIM ViT-B/16 pre-training on your own images: every image under data_root,
# in every sub-folder (.jpg .jpeg .png .bmp .webp .tif ... in any letter
# case), no labels, no annotation file; everything else as cim_vitb_300e.py.
#
# bash tools/dist_train.sh configs/cim_vitb_300e_folder.py 8 \
#     --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# Files that cannot be used (undecodable, truncated, smaller than 32 px) are
# skipped and named in the log; the run stops if more than 10% of the files
# it tries are (SkippedImagesHook in custom_hooks), or at the first one with
# train_dataloader.dataset.pipeline.0.on_bad_image=raise. 300 epochs suit
# ImageNet-sized sets; for a small folder shorten train_cfg.max_epochs and
# the param_scheduler's begin/end with it. Every 500 iterations two fixed
# training pairs are drawn with the model's predictions (exemplar | true map
# | predicted map) to the visualisation backends: PNGs under
# work_dir/<timestamp>/vis_data/vis_image/ by default.
#
# If some of your images have labels, the k-NN accuracy of the encoder can
# be logged while it trains (docs/pretrain_own_images.md): append to
# custom_hooks below, with <class>/<image> folders of labelled images
# (a few hundred queries, a few per class to a few thousand as memory),
#     dict(type='KNNMonitorHook', interval=5000,
#          memory=dict(batch_size=64, num_workers=4, dataset=dict(
#              type='CustomDataset', data_root='data/labelled/train',
#              pipeline=knn_pipeline)),
#          query=dict(batch_size=64, num_workers=4, dataset=dict(
#              type='CustomDataset', data_root='data/labelled/val',
#              pipeline=knn_pipeline))),
# with knn_pipeline as in cim_vitb_300e_knn-monitor.py.
_base_ = ['cim_vitb_300e.py']

data_root = 'data/my_images/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='UnlabelledImageFolder',
        data_root=data_root,
        pipeline={{_base_.train_pipeline}}))
custom_hooks = [
    *_base_.custom_hooks,
    dict(type='CorrelationMapVisualizationHook', interval=500),
]
