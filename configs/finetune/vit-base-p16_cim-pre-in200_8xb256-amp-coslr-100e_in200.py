# ImageNet-200 fine-tuning of a ViT-B/16 CIM-pre-trained on ImageNet-200
# (configs/cim_vitb_300e_in200.py): the evaluation of the paper's ablations
# (Tables 1-3, Fig. 4; default setting 90.12 top-1). The same recipe as on
# ImageNet-1K (Table 10: shared across datasets), 200 classes: the
# ImageNetSubset of cim_mm/datasets/meta/imagenet200_wnids.txt, train and val
# images of those classes from data/imagenet.
#
# python tools/model_converters/convert_cim.py \
#     work_dirs/cim_vitb_300e_in200/epoch_300.pth work_dirs/cim_vitb_300e_in200/backbone.pth --to mmpretrain
# bash tools/dist_train.sh configs/finetune/vit-base-p16_cim-pre-in200_8xb256-amp-coslr-100e_in200.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_vitb_300e_in200/backbone.pth
_base_ = ['vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py']

model = dict(
    data_preprocessor=dict(num_classes=200),
    head=dict(num_classes=200))

train_dataloader = dict(dataset=dict(type='ImageNetSubset'))
val_dataloader = dict(dataset=dict(type='ImageNetSubset'))
test_dataloader = val_dataloader
