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
