# CIM ViT-B/16, 300 epochs on ImageNet-200 (the paper's ablation set: the 200
# classes of cim_mm/datasets/meta/imagenet200_wnids.txt, from data/imagenet).
_base_ = ['cim_vitb_300e.py']
train_dataloader = dict(dataset=dict(type='ImageNetSubset'))
