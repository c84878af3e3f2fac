# ImageNet-1K fine-tuning of a CIM-pre-trained ViT-S/16 (paper Table 10;
# paper top-1 81.6 after 300 epochs of CIM pre-training with
# configs/cim_vits_300e.py).
# Same recipe as ViT-B but 200 epochs. ViT-S/16 is mmpretrain's
# arch='deit-small' (384-d, 12 layers, 6 heads), not its 'small'.
#
# python tools/model_converters/convert_cim.py \
#     work_dirs/cim_vits_300e/epoch_300.pth work_dirs/cim_vits_300e/backbone.pth --to mmpretrain
# bash tools/dist_train.sh configs/finetune/vit-small-p16_cim-pre_8xb256-amp-coslr-200e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_vits_300e/backbone.pth
_base_ = ['vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py']

model = dict(
    backbone=dict(arch='deit-small'),
    head=dict(in_channels=384))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=195, eta_min=1e-6, by_epoch=True,
         begin=5, end=200, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)
