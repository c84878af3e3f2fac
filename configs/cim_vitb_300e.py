# CIM ViT-B/16, 300 epochs on ImageNet-1K, 8 GPUs x 512 (batch 4096), AMP.
# bash tools/dist_train.sh configs/cim_vitb_300e.py 8
_base_ = [
    '_base_/models/cim_vit-base-p16.py',
    '_base_/datasets/imagenet_cim.py',
    '_base_/schedules/cim_adamw-coslr-300e.py',
    '_base_/default_runtime.py',
]
