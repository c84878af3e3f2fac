# ADE20K semantic segmentation with a CIM-pre-trained ViT-B/16 (paper
# Table 7: UperNet, 160k iterations, 512x512, single-scale mIoU 48.1).
#
# The BEiT/MAE transfer protocol on mmseg's own bases: mmseg's `MAE` backbone
# (a ViT-B/16 with layer scale and a zero-initialised relative position
# bias) -> Feature2Pyramid (1/4, 1/8, 1/16, 1/32) -> UperNet head + FCN
# auxiliary head; AdamW, lr 1e-4, betas (0.9, 0.999), weight decay 0.05,
# layer-wise lr decay 0.65 over 12 layers, 1500 warm-up iterations then poly
# decay, 160k iterations at batch 16 (8 GPUs x 2), AMP; sliding-window
# single-scale test (512x512 windows, stride 341) with mIoU.
#
# Weights: the paper starts from the ImageNet fine-tuned encoder (a CIM
# pre-training checkpoint works too). Convert it for mmseg's `MAE` (layer
# scale gammas set to 1, relative position bias left at MAE's zeros, i.e.
# exactly the plain ViT; the 14x14 position embedding is resized to 32x32
# when loaded), then point `model.pretrained` at it:
#   python tools/model_converters/convert_cim.py \
#       work_dirs/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k/epoch_100.pth \
#       work_dirs/cim_vitb_mmseg.pth --to mmseg
#   bash tools/dist_train.sh \
#       configs/segmentation/upernet_vit-base-p16_cim-pre_8xb2-amp-160k_ade20k-512x512.py 8 \
#       --cfg-options model.pretrained=work_dirs/cim_vitb_mmseg.pth
# mmseg's own `tools/train.py` / `tools/dist_train.sh` work as well
# (`custom_imports` below imports cim_mm and switches on its stack
# adaptations, cim_mm.compat.enable).
# The placeholder below fails loudly (file not found) if left unset.
#
# Data: mmseg's ADE20K layout under data/ade/ADEChallengeData2016
# (images/{training,validation}/*.jpg, annotations/{training,validation}/*.png).
#
# Without a GPU (a smoke test, not the recipe): in one process SyncBN is
# fine (mmengine turns it into BN outside distributed training) and cim_mm's
# tools/train.py runs the AmpOptimWrapper in fp32 (bf16 autocast with
# --amp). mmseg's own tools/train.py needs the fp32 wrapper spelled out, and
# `tools/dist_train.sh CONFIG N` on CPU (gloo, where SyncBN fails) plain BN:
#   --cfg-options optim_wrapper.type=OptimWrapper \
#       model.neck.norm_cfg.type=BN model.decode_head.norm_cfg.type=BN \
#       model.auxiliary_head.norm_cfg.type=BN
# and a 2-core machine wants a smaller crop too, e.g. 256x256:
#       model.data_preprocessor.size="(256,256)" \
#       model.backbone.img_size="(256,256)" \
#       model.test_cfg.crop_size="(256,256)" model.test_cfg.stride="(171,171)" \
#       train_dataloader.dataset.pipeline.2.scale="(1024,256)" \
#       train_dataloader.dataset.pipeline.3.crop_size="(256,256)" \
#       val_dataloader.dataset.pipeline.1.scale="(1024,256)" \
#       test_dataloader.dataset.pipeline.1.scale="(1024,256)"
# Keep at least 2 images per process: the pyramid-pooling branch of the
# UperNet head normalises 1x1 pooled maps, which BN cannot train on batch 1.
_base_ = [
    'mmseg::_base_/models/upernet_mae.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['cim_mm', 'cim_mm.compat.enable'],
                      allow_failed_imports=False)

crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='SET_ME--model.pretrained=<convert_cim.py --to mmseg output>',
    backbone=dict(
        type='MAE',
        img_size=crop_size,
        patch_size=16,
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        # the converter writes gammas = 1: layer scale starts as identity
        init_values=1.0,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=False,
        out_indices=(3, 5, 7, 11)),
    neck=dict(embed_dim=768, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=[768, 768, 768, 768],
        channels=768,
        num_classes=150,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=768, num_classes=150, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# AMP without an explicit loss_scale (AmpOptimWrapper's default is dynamic),
# so that `optim_wrapper.type=OptimWrapper` alone turns it off.
# `_scope_='mmseg'` on the entries this file replaces (rather than merges
# into mmseg's bases): a config inheriting this one through
# `_base_ = ['cim_mm::...']` would otherwise give them the scope 'cim_mm',
# which has no registry of its own.
optim_wrapper = dict(
    _delete_=True,
    _scope_='mmseg',
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.65),
    constructor='LayerDecayOptimizerConstructor')

param_scheduler = [
    dict(
        _scope_='mmseg',
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end=1500),
    dict(
        _scope_='mmseg',
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=160000,
        by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000,
                 val_interval=16000)

# 8 GPUs x 2 images = 16 per iteration
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
