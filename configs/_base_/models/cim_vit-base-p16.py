# CIM with a ViT-B/16 encoder (paper Sec. 3.2, decoder details of the release).
model = dict(
    type='CIM',
    bootstrap='online_exemplar',  # Table 2: online on exemplars, EMA target on context
    # SelfSupDataPreprocessor that builds the pairs' pixels and maps on the
    # device from what DrawCorrelationalPair drew in the worker;
    # non_blocking overlaps the copies of pinned batches.
    data_preprocessor=dict(
        type='CIMDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        non_blocking=True),
    backbone=dict(
        type='CIMViT', arch='base', img_size=224, patch_size=16,
        freeze_patch_embed=True),
    neck=dict(
        type='CorrelationDecoder',
        in_channels=768,
        embed_dim=512,
        depth=1,
        num_heads=16,
        mlp_ratio=4.,
        correlation='cross_attention',
        predictor='linear',
        out_size=160),
    head=dict(
        type='CorrelationHead',
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True),
        exemplar_reduction='sum'),
    # The release initialises every Linear with Xavier-uniform, LN with (1, 0).
    init_cfg=[
        dict(type='Xavier', distribution='uniform', layer='Linear'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
    ],
)
