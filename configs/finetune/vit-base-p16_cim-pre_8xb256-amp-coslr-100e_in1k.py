# ImageNet-1K fine-tuning of a CIM-pre-trained ViT-B/16 (paper Table 10;
# paper top-1 83.1 after 300 epochs of CIM pre-training with
# configs/cim_vitb_300e.py).
# 100 epochs, 8 GPUs x 256 = 2048, AdamW lr 9.6e-3, layer decay 0.8, AMP.
#
# python tools/model_converters/convert_cim.py \
#     work_dirs/cim_vitb_300e/epoch_300.pth work_dirs/cim_vitb_300e/backbone.pth --to mmpretrain
# bash tools/dist_train.sh configs/finetune/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_vitb_300e/backbone.pth
_base_ = [
    '_base_/models/vit-base-p16_cim-ft.py',
    '_base_/datasets/imagenet_bs256_cim-vit-ft_224.py',
    '_base_/schedules/cim-vit-ft_adamw-lrd0.8-coslr-100e_bs2048.py',
    '_base_/finetune_runtime.py',
]
