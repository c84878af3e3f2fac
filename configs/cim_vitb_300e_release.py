# CIM ViT-B/16 as the authors' release computes it, for their pre-trained
# checkpoint converted by tools/model_converters/cim_release_to_mmpretrain.py
# (model zoo: cim_vit-base-p16_3rdparty-300e_in1k).
#
# python tools/model_converters/cim_release_to_mmpretrain.py \
#     checkpoint-299.pth checkpoints/cim_vit-base-p16_3rdparty-300e_in1k.pth
# python tools/infer_correlation.py configs/cim_vitb_300e_release.py \
#     checkpoints/cim_vit-base-p16_3rdparty-300e_in1k.pth photo.jpg --box 40 30 120 90
#
# The model, data and schedule of cim_vitb_300e.py (the release's recipe);
# only what the release's function needs differs.
_base_ = ['cim_vitb_300e.py']

model = dict(
    # The release resizes the 14x14 position embedding to the 10x10 context
    # and 4x4 exemplar grids by F.interpolate(scale_factor=(g + 0.1) / 14,
    # mode='bicubic') (DINO / MAE style), not to size=(g, g).
    backbone=dict(pos_embed_scale_offset=0.1))
