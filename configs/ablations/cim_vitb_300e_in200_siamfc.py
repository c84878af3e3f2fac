# Table 4, SiamFC (Bertinetto et al., ECCV-W 2016) trained on CIM's pairs:
# top-1 89.09 after fine-tuning (CIM 90.12, scratch 77.79).
# Read as trackers are built: one shared (siamese) ViT-B/16 encodes exemplars
# and contexts (bootstrap='shared', no EMA target), the exemplar's features
# are a correlation kernel slid over the context's (plain cross-correlation,
# SiamFC's adjust layer) and the 7x7 score map is trained with SiamFC's
# balanced logistic loss against the exemplar's region at score-map
# resolution. Pairs, schedule and fine-tuning are CIM's
# (cim_vitb_300e_in200.py; configs/finetune/).
_base_ = ['../cim_vitb_300e_in200.py']

model = dict(
    bootstrap='shared',
    neck=dict(
        _delete_=True,
        type='SiameseCorrelation',
        in_channels=768,
        embed_dim=None,  # correlate the encoder's features themselves
        correlation='plain'),
    head=dict(
        _delete_=True,
        type='SiamFCHead',
        stride=16,  # ViT/16: score cells 16 px apart
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)))

# No target encoder to average: drop TargetEMAHook, keep the other hooks.
custom_hooks = [h for h in _base_.custom_hooks if h.type != 'TargetEMAHook']
