# ImageNet classifier on a CIM-pre-trained ResNet-50 (paper Table 11):
# mmpretrain's ResNet-50 classifier with what CIM's fine-tuning changes.
#
# Same backbone as configs/cim_r50_300e.py (`ResNet(depth=50,
# out_indices=(3, ))`, SyncBN), so the ONLINE encoder loads into it.
# No stochastic depth (Table 11). Binary cross-entropy on sigmoid logits as in
# "ResNet strikes back"; the 100-epoch recipe adds label smoothing 0.1.
#
# `init_cfg.checkpoint` must be set by the user: the online encoder converted
# from the pre-training runner checkpoint,
#   python tools/model_converters/convert_cim.py \
#       work_dirs/cim_r50_300e/epoch_300.pth work_dirs/cim_r50_300e/backbone.pth \
#       --to mmpretrain
#   ... --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cim_r50_300e/backbone.pth
# (backbone keys without a prefix, hence no `prefix` here). The placeholder
# below fails loudly (file not found) if left unset.
_base_ = ['mmpretrain::_base_/models/resnet50.py']

model = dict(
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='SET_ME--model.backbone.init_cfg.checkpoint')),
    head=dict(
        # BCE averaged over samples AND classes, like timm's
        # BinaryCrossEntropy that "ResNet strikes back" uses: mmpretrain's
        # ClsHead averages over samples only (sums over the 1000 classes),
        # hence loss_weight = 1 / num_classes (with AdamW this mostly only
        # changes the logged value; it keeps gradients equal to timm's).
        loss=dict(use_sigmoid=True, loss_weight=1 / 1000)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.1),
        dict(type='CutMix', alpha=1.0),
    ]))
