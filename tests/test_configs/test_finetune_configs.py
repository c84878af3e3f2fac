"""The ImageNet fine-tuning configs against the paper's Tables 10 and 11."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import cim_mm  # noqa: F401
from cim_mm.datasets.imagenet_subset import IMAGENET200_WNIDS, read_wnids

FINETUNE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'finetune')
VITB = 'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py'
VITS = 'vit-small-p16_cim-pre_8xb256-amp-coslr-200e_in1k.py'
VITB_IN200 = 'vit-base-p16_cim-pre-in200_8xb256-amp-coslr-100e_in200.py'
R50_100 = 'resnet50_cim-pre_8xb256-amp-coslr-100e_in1k.py'
R50_300 = 'resnet50_cim-pre_8xb256-amp-coslr-300e_in1k.py'
VITS_ALL = [VITB, VITS, VITB_IN200]
ALL = VITS_ALL + [R50_100, R50_300]
TINY_VIT = dict(
    embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)
GPUS = 8  # the 8xb256 in the names: 8 GPUs x 256 = the paper's 2048


def load(name):
    return Config.fromfile(osp.join(FINETUNE, name))


def build_model(cfg):
    if cfg.model.backbone.get('norm_cfg', {}).get('type') == 'SyncBN':
        cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def build_cpu_optim_wrapper(model, cfg):
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'  # AMP needs a GPU; the groups are the same
    optim_cfg.pop('loss_scale', None)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_optim_wrapper(model, optim_cfg)


def step(cfg, type_):
    found = [t for t in cfg if t.type == type_]
    assert len(found) == 1, (type_, cfg)
    return found[0]


def check_schedule(cfg, epochs, eta_min=1e-6):
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 5)
    assert warmup.by_epoch and warmup.convert_to_iter_based
    assert (cosine.type, cosine.begin, cosine.end) == (
        'CosineAnnealingLR', 5, epochs)
    assert cosine.T_max == epochs - 5 and cosine.eta_min == eta_min
    assert cosine.convert_to_iter_based
    assert cfg.train_cfg.max_epochs == epochs


def check_test_pipeline(cfg):
    resize, crop = cfg.val_dataloader.dataset.pipeline[1:3]
    assert (resize.type, resize.edge, resize.interpolation) == (
        'ResizeEdge', 'short', 'bicubic')
    assert (crop.type, crop.crop_size) == ('CenterCrop', 224)
    # crop ratio 0.95 at 224: short side floor(224 / 0.95) (timm's rounding)
    assert resize.scale == math.floor(224 / 0.95) == 235
    assert 224 / resize.scale == pytest.approx(0.95, abs=0.005)
    assert cfg.test_dataloader == cfg.val_dataloader


@pytest.mark.parametrize('name,epochs', [(VITB, 100), (VITS, 200),
                                         (VITB_IN200, 100)])
def test_vit_recipe_matches_table10(name, epochs):
    cfg = load(name)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW'
    assert cfg.train_dataloader.batch_size * GPUS == 2048
    assert cfg.auto_scale_lr.base_batch_size == 2048
    assert opt.lr == pytest.approx(1.2e-3 * 2048 / 256)
    assert opt.lr == pytest.approx(9.6e-3)
    assert opt.betas == (0.9, 0.999)
    assert opt.weight_decay == 0.05
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert 'clip_grad' not in cfg.optim_wrapper
    assert (cfg.optim_wrapper.constructor ==
            'LearningRateDecayOptimWrapperConstructor')
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.8
    check_schedule(cfg, epochs)

    backbone = cfg.model.backbone
    assert backbone.type == 'VisionTransformer'
    assert (backbone.patch_size, backbone.img_size) == (16, 224)
    assert backbone.drop_path_rate == 0.1
    assert backbone.get('drop_rate', 0) == 0
    assert backbone.out_type == 'avg_featmap' and backbone.final_norm is False
    assert backbone.init_cfg.type == 'Pretrained'
    assert 'prefix' not in backbone.init_cfg  # converted: keys w/o prefix
    loss = cfg.model.head.loss
    assert loss.type == 'LabelSmoothLoss' and loss.mode == 'original'
    assert loss.label_smooth_val == 0.1 and not loss.get('use_sigmoid')
    mixup, cutmix = cfg.model.train_cfg.augments
    assert (mixup.type, mixup.alpha) == ('Mixup', 0.8)
    assert (cutmix.type, cutmix.alpha) == ('CutMix', 1.0)

    train = cfg.train_dataloader.dataset.pipeline
    rrc = step(train, 'RandomResizedCrop')
    assert (rrc.scale, rrc.interpolation) == (224, 'bicubic')
    ra = step(train, 'RandAugment')
    assert (ra.magnitude_level, ra.magnitude_std) == (9, 0.5)
    assert (ra.policies, ra.num_policies, ra.total_level) == (
        'timm_increasing', 2, 10)
    erase = step(train, 'RandomErasing')
    assert erase.erase_prob == 0.25 and erase.mode == 'rand'
    assert cfg.train_dataloader.sampler.type == 'DefaultSampler'
    check_test_pipeline(cfg)


@pytest.mark.parametrize(
    'name,epochs,size,magnitude,smoothing,repeated',
    [(R50_100, 100, 160, 6, 0.1, False), (R50_300, 300, 224, 7, None, True)])
def test_resnet_recipe_matches_table11(name, epochs, size, magnitude,
                                       smoothing, repeated):
    cfg = load(name)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW'
    assert cfg.train_dataloader.batch_size * GPUS == 2048
    assert cfg.auto_scale_lr.base_batch_size == 2048
    assert opt.lr == pytest.approx(12e-3)
    assert opt.weight_decay == 0.02
    assert 'clip_grad' not in cfg.optim_wrapper
    assert 'layer_decay_rate' not in cfg.optim_wrapper.get('paramwise_cfg', {})
    assert 'constructor' not in cfg.optim_wrapper
    check_schedule(cfg, epochs)

    backbone = cfg.model.backbone
    assert (backbone.type, backbone.depth, backbone.out_indices) == (
        'ResNet', 50, (3, ))  # as configs/cim_r50_300e.py
    assert backbone.get('drop_path_rate', 0) == 0
    assert backbone.init_cfg.type == 'Pretrained'
    assert 'prefix' not in backbone.init_cfg  # converted: keys w/o prefix
    loss = cfg.model.head.loss
    assert loss.use_sigmoid is True  # binary cross-entropy
    if smoothing is None:
        assert loss.type == 'CrossEntropyLoss'
    else:
        assert loss.type == 'LabelSmoothLoss'
        assert loss.label_smooth_val == smoothing and loss.mode == 'original'
    mixup, cutmix = cfg.model.train_cfg.augments
    assert (mixup.type, mixup.alpha) == ('Mixup', 0.1)
    assert (cutmix.type, cutmix.alpha) == ('CutMix', 1.0)

    train = cfg.train_dataloader.dataset.pipeline
    assert step(train, 'RandomResizedCrop').scale == size
    ra = step(train, 'RandAugment')
    assert (ra.magnitude_level, ra.magnitude_std) == (magnitude, 0.5)
    assert not [t for t in train if t.type == 'RandomErasing']
    sampler = cfg.train_dataloader.sampler.type
    assert sampler == ('RepeatAugSampler' if repeated else 'DefaultSampler')
    check_test_pipeline(cfg)


def test_variants_change_only_what_they_name():
    vitb, vits, in200 = load(VITB), load(VITS), load(VITB_IN200)
    assert vits.model.backbone.arch == 'deit-small'  # not mmpretrain 'small'
    assert vits.model.head.in_channels == 384
    assert vits.optim_wrapper == vitb.optim_wrapper
    assert in200.model.head.num_classes == 200
    assert in200.model.data_preprocessor.num_classes == 200
    assert len(read_wnids(IMAGENET200_WNIDS)) == 200
    for loader in (in200.train_dataloader, in200.val_dataloader,
                   in200.test_dataloader):
        assert loader.dataset.type == 'ImageNetSubset'
        assert 'class_list' not in loader.dataset  # the shipped 200 classes
    assert in200.optim_wrapper == vitb.optim_wrapper
    assert in200.param_scheduler == vitb.param_scheduler
    r100, r300 = load(R50_100), load(R50_300)
    assert r100.optim_wrapper == r300.optim_wrapper


@pytest.mark.parametrize('name,dims,layers,heads,classes,params', [
    (VITB, 768, 12, 12, 1000, 86.6e6),
    (VITS, 384, 12, 6, 1000, 22.05e6),
    (VITB_IN200, 768, 12, 12, 200, 85.95e6),
    (R50_100, None, None, None, 1000, 25.56e6),
    (R50_300, None, None, None, 1000, 25.56e6),
])
def test_every_config_builds_its_model_on_cpu(name, dims, layers, heads,
                                              classes, params):
    model = build_model(load(name))
    count = sum(p.numel() for p in model.parameters())
    assert count == pytest.approx(params, rel=2e-3)
    if dims is not None:
        assert model.backbone.embed_dims == dims
        assert model.backbone.num_layers == layers
        assert model.backbone.layers[0].attn.num_heads == heads
        assert model.backbone.pos_embed.requires_grad  # learnable when FT
    assert model.head.fc.out_features == classes
    model.eval()
    with torch.no_grad():
        scores = model(torch.rand(1, 3, 224, 224), mode='tensor')
    assert scores.shape == (1, classes)


def test_vit_weight_decay_and_layer_decay():
    cfg = load(VITB)
    model = build_model(cfg)
    wrapper = build_cpu_optim_wrapper(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in wrapper.optimizer.param_groups:
        (param, ) = group['params']
        name = names[id(param)]
        seen.add(name)
        no_decay = param.ndim == 1 or name.endswith(('cls_token', 'pos_embed'))
        assert group['weight_decay'] == (0.0 if no_decay else 0.05), name
        if name.startswith('backbone.layers.'):
            depth = int(name.split('.')[2]) + 1
        elif name.startswith(('backbone.cls_token', 'backbone.pos_embed',
                              'backbone.patch_embed')):
            depth = 0
        else:  # backbone.ln2 (the pooled-feature norm) and the head
            depth = 13
        assert group['lr'] == pytest.approx(9.6e-3 * 0.8**(13 - depth)), name
    assert seen == set(names.values())
    assert 'head.fc.weight' in seen and 'backbone.ln2.weight' in seen


def test_resnet_weight_decay_without_layer_decay():
    cfg = load(R50_300)
    model = build_model(cfg)
    wrapper = build_cpu_optim_wrapper(model, cfg)
    norm_params = {
        id(p)
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    }
    names = {id(p): n for n, p in model.named_parameters()}
    groups = wrapper.optimizer.param_groups
    assert {g['lr'] for g in groups} == {12e-3}
    decays = {}
    for group in groups:
        for p in group['params']:
            decays[id(p)] = group['weight_decay']
    assert set(decays) == set(names)
    for pid, decay in decays.items():
        no_decay = pid in norm_params or names[pid].endswith('.bias')
        assert decay == (0.0 if no_decay else 0.02), names[pid]


@pytest.fixture(scope='module')
def photo_path(tmp_path_factory):
    import skimage.data
    from PIL import Image
    path = tmp_path_factory.mktemp('photo') / 'astronaut.png'
    Image.fromarray(skimage.data.astronaut()).save(path)  # 512x512 RGB
    return str(path)


def run_pipeline(pipeline_cfg, path, label=3):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        transforms = [TRANSFORMS.build(t) for t in pipeline_cfg]
    results = dict(img_path=path, gt_label=label)
    for t in transforms:
        results = t(results)
    return results, transforms


@pytest.mark.parametrize('name,train_size', [(VITB, 224), (VITS, 224),
                                             (R50_100, 160),
                                             (R50_300, 224)])
def test_pipelines_run_on_a_real_photo(name, train_size, photo_path):
    cfg = load(name)
    packed, transforms = run_pipeline(
        cfg.train_dataloader.dataset.pipeline, photo_path)
    assert packed['inputs'].shape == (3, train_size, train_size)
    assert packed['inputs'].dtype == torch.uint8
    assert packed['data_samples'].gt_label.tolist() == [3]
    ra, = [t for t in transforms if type(t).__name__ == 'RandAugment']
    table = load(name).train_dataloader.dataset.pipeline
    expected = step(table, 'RandAugment').magnitude_level
    assert (ra.magnitude_level, ra.magnitude_std) == (expected, 0.5)
    assert len(ra.policies) == 15 and ra.num_policies == 2

    packed, _ = run_pipeline(cfg.test_dataloader.dataset.pipeline, photo_path)
    assert packed['inputs'].shape == (3, 224, 224)
    # 512 -> 235 -> central 224: the test view is deterministic and
    # equals resizing the central 0.95 of the photo (up to resampling).
    again, _ = run_pipeline(cfg.test_dataloader.dataset.pipeline, photo_path)
    assert torch.equal(packed['inputs'], again['inputs'])


@pytest.mark.parametrize('name,smoothing', [(R50_100, 0.1), (R50_300, 0)])
def test_resnet_loss_is_timm_binary_cross_entropy(name, smoothing):
    """BCE averaged over samples and classes, on (smoothed) soft targets."""
    torch.manual_seed(0)
    head = build_model(load(name)).head
    feats = torch.randn(4, 2048)
    target = torch.softmax(torch.randn(4, 1000) * 5, dim=1)  # mixed labels
    samples = [DataSample().set_gt_score(t) for t in target]
    loss = head.loss((feats, ), samples)['loss']
    smoothed = target * (1 - smoothing) + smoothing / 1000
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        head.fc(feats), smoothed)  # mean over samples and classes
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def shrunk_vit_cfg(checkpoint=None):
    cfg = load(VITB)
    cfg.model.backbone.arch = TINY_VIT
    cfg.model.head.in_channels = TINY_VIT['embed_dims']
    if checkpoint is not None:
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    return cfg


@pytest.mark.parametrize('name', [VITB, R50_100])
def test_one_training_step_with_mixup_cutmix(name, photo_path):
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = shrunk_vit_cfg() if name == VITB else load(name)
    size = step(cfg.train_dataloader.dataset.pipeline,
                'RandomResizedCrop').scale
    model = build_model(cfg)
    wrapper = build_cpu_optim_wrapper(model, cfg)
    batch = [
        run_pipeline(cfg.train_dataloader.dataset.pipeline, photo_path,
                     label)[0] for label in (1, 5, 7, 900)
    ]
    data = dict(
        inputs=[b['inputs'] for b in batch],
        data_samples=[b['data_samples'] for b in batch])
    processed = model.data_preprocessor(data, training=True)
    assert processed['inputs'].shape == (4, 3, size, size)
    assert processed['inputs'].dtype == torch.float32
    scores = torch.stack([s.gt_score for s in processed['data_samples']])
    assert scores.shape == (4, 1000)
    assert torch.allclose(scores.sum(1), torch.ones(4))
    # Mixup / CutMix mixed the one-hot labels of two images (a row may be
    # mixed with itself when the random permutation keeps its index)
    assert ((scores > 0).sum(1) <= 2).all() and (scores < 1).any()
    assert set(scores.nonzero()[:, 1].tolist()) == {1, 5, 7, 900}

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    log = model.train_step(data, wrapper)
    assert torch.isfinite(log['loss']) and log['loss'] > 0
    changed = [n for n, p in model.named_parameters()
               if not torch.equal(p, before[n])]
    assert 'head.fc.weight' in changed
    if name == VITB:
        assert 'backbone.layers.0.attn.qkv.weight' in changed
        assert 'backbone.patch_embed.projection.weight' in changed
    else:
        assert 'backbone.conv1.weight' in changed


def run_converter(src, dst):
    """tools/model_converters/convert_cim.py SRC DST --to mmpretrain."""
    import importlib.util
    path = osp.join(osp.dirname(osp.dirname(FINETUNE)), 'tools',
                    'model_converters', 'convert_cim.py')
    spec = importlib.util.spec_from_file_location('convert_cim', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([src, dst, '--to', 'mmpretrain'])


@pytest.mark.parametrize('pretrain,finetune', [('cim_vitb_300e.py', VITB),
                                               ('cim_r50_300e.py', R50_300)])
def test_backbone_loads_the_converted_online_encoder(pretrain, finetune,
                                                     tmp_path):
    """A CIM runner checkpoint, converted as the configs document,
    initialises the fine-tuning backbone with the online encoder."""
    cim_cfg = Config.fromfile(osp.join(osp.dirname(FINETUNE), pretrain))
    cfg = load(finetune)
    is_vit = cim_cfg.model.backbone.type == 'CIMViT'
    if is_vit:
        cim_cfg.model.backbone.arch = TINY_VIT
        cim_cfg.model.neck.in_channels = TINY_VIT['embed_dims']
        cfg = shrunk_vit_cfg()
    cim = build_model(cim_cfg)
    cim.init_weights()
    with torch.no_grad():  # make online and target tell apart
        for p in cim.backbone.parameters():
            p.add_(torch.randn_like(p))
    src, dst = str(tmp_path / 'epoch_300.pth'), str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict=cim.state_dict(), meta=dict(epoch=300)), src)
    assert run_converter(src, dst) == 0

    cfg.model.backbone.init_cfg.checkpoint = dst
    model = build_model(cfg)
    model.init_weights()
    loaded = model.backbone.state_dict()
    online = cim.backbone.state_dict()
    target = cim.target_backbone.state_dict()
    compared = 0
    for key, value in online.items():
        if key.startswith('ln1.') and is_vit:
            assert key not in loaded  # the pre-training final norm is unused
            continue
        assert torch.equal(loaded[key], value), key
        compared += value.is_floating_point() and not torch.equal(
            value, target[key])
    assert compared > 10
    if is_vit:
        # the fixed sin-cos PE becomes the learnable PE's initial value
        assert model.backbone.pos_embed.requires_grad
        assert torch.equal(model.backbone.pos_embed, cim.backbone.pos_embed)


def test_unset_checkpoint_fails_loudly():
    model = build_model(shrunk_vit_cfg())
    with pytest.raises(FileNotFoundError, match='SET_ME'):
        model.init_weights()
