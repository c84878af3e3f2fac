"""The shipped pre-training configs against the paper's Table 9."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401
from cim_mm.datasets.transforms import RELEASE_AUGMENTATION

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'configs')
PAPER = ['cim_vitb_300e.py', 'cim_vits_300e.py', 'cim_r50_300e.py',
         'cim_vitb_300e_in200.py']


def load(name):
    return Config.fromfile(osp.join(CONFIGS, name))


@pytest.mark.parametrize('name', PAPER)
def test_recipe_matches_table9(name):
    cfg = load(name)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW'
    assert opt.betas == (0.9, 0.95)
    assert opt.weight_decay == 0.05
    # lr = 1.5e-4 x batch / 256 -> 2.4e-3 at 8 GPUs x 512 = 4096.
    assert cfg.train_dataloader.batch_size * 8 == 4096
    assert cfg.auto_scale_lr.base_batch_size == 4096
    assert opt.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert opt.lr == pytest.approx(2.4e-3)
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)
    # AMP in bf16: no loss scaler (no inf gradients in the first steps)
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert cfg.train_cfg.max_epochs == 300
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 40)
    assert (cosine.type, cosine.begin, cosine.end) == (
        'CosineAnnealingLR', 40, 300)
    assert cosine.T_max == 260 and cosine.eta_min == 0
    assert warmup.convert_to_iter_based and cosine.convert_to_iter_based
    ema, = [h for h in cfg.custom_hooks if h.type == 'TargetEMAHook']
    assert (ema.momentum, ema.end_momentum) == (0.99, 1.0)


@pytest.mark.parametrize('name', PAPER)
def test_pairs_match_table9(name):
    cfg = load(name)
    crop, = [t for t in cfg.train_dataloader.dataset.pipeline
             if t.type == 'DrawCorrelationalPair']
    # pairs drawn in the worker, pixels built by the data preprocessor
    assert cfg.train_dataloader.collate_fn.type == 'default_collate'
    assert cfg.model.data_preprocessor.type == 'CIMDataPreprocessor'
    assert (crop.context_size, crop.exemplar_size, crop.num_exemplars) == (
        160, 64, 6)
    assert crop.search_size == 224 and crop.search_scale == (0.5, 1.0)
    assert crop.scale_range == (0.05, 0.48)
    assert crop.ratio_range == pytest.approx((1 / 3, 3))
    assert crop.rotation_range == (-45, 45)
    assert cfg.model.neck.out_size == 160


def test_decoder_is_the_release_decoder():
    neck = load('cim_vitb_300e.py').model.neck
    assert (neck.embed_dim, neck.depth, neck.num_heads, neck.mlp_ratio) == (
        512, 1, 16, 4.)
    assert (neck.correlation, neck.predictor) == ('cross_attention', 'linear')


def test_variants_change_only_what_they_name():
    vitb, vits = load('cim_vitb_300e.py'), load('cim_vits_300e.py')
    assert vits.model.backbone.arch == 'deit-small'
    assert vits.model.neck.in_channels == 384
    r50 = load('cim_r50_300e.py')
    assert r50.model.backbone.type == 'ResNet'
    assert r50.model.backbone.depth == 50
    assert r50.model.neck.in_channels == 2048
    in200 = load('cim_vitb_300e_in200.py')
    assert in200.train_dataloader.dataset.type == 'ImageNetSubset'
    for cfg in (vits, r50, in200):
        assert cfg.optim_wrapper == vitb.optim_wrapper
        assert cfg.param_scheduler == vitb.param_scheduler


def test_release_config_is_vitb_with_the_release_resize():
    """cim_vitb_300e_release.py (for the authors' converted checkpoint)
    changes only the position-embedding resize of cim_vitb_300e.py."""
    vitb, rel = load('cim_vitb_300e.py'), load('cim_vitb_300e_release.py')
    assert rel.model.backbone.pop('pos_embed_scale_offset') == 0.1
    assert rel.to_dict() == vitb.to_dict()
    model = MODELS.build(load('cim_vitb_300e_release.py').model)
    assert model.backbone.pos_embed_scale_offset == 0.1
    assert model.target_backbone.pos_embed_scale_offset == 0.1


def test_no_weight_decay_on_norms_biases_and_tokens():
    cfg = load('cim_vitb_300e.py')
    model = MODELS.build(cfg.model)
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'  # AMP needs a GPU; the groups are the same
    optim_cfg.pop('loss_scale', None)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, optim_cfg)
    decay_of = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay_of[id(p)] = group['weight_decay']
    names = {id(p): n for n, p in model.named_parameters()}
    norm_params = {
        id(p)
        for m in model.modules()
        if isinstance(m, (torch.nn.LayerNorm, torch.nn.modules.batchnorm._BatchNorm))
        for p in m.parameters()
    }
    trained = list(decay_of)
    assert trained, 'no trainable parameter in the optimizer'
    for pid in trained:
        name = names[pid]
        no_decay = (pid in norm_params or name.endswith('.bias')
                    or name.endswith(('cls_token', 'pos_embed')))
        assert decay_of[pid] == (0.0 if no_decay else 0.05), name
    assert any(decay_of[i] == 0.05 for i in trained)
    assert any(i in norm_params for i in trained)
    # The EMA target is not optimised; neither is the frozen patch embedding.
    assert not any(names[i].startswith('target_backbone') for i in trained)
    assert not any('patch_embed' in names[i] for i in trained)


@pytest.mark.parametrize('name', PAPER + ['cim_demo.py'])
def test_every_config_builds_its_model_on_cpu(name):
    cfg = load(name)
    if cfg.model.backbone.get('norm_cfg', {}).get('type') == 'SyncBN':
        cfg.model.backbone.norm_cfg = dict(type='BN')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert isinstance(model.backbone, torch.nn.Module)


def test_exemplar_augmentation_is_named_once():
    """The base dataset config's recipe is the class default (the two cannot
    drift) and the context-aug ablation applies that recipe to the context."""
    base = load('_base_/datasets/imagenet_cim.py')
    assert base.exemplar_augmentation == RELEASE_AUGMENTATION
    assert base.train_pipeline[1].exemplar_augmentation == RELEASE_AUGMENTATION
    ablation = load('ablations/cim_vitb_300e_in200_context-aug.py')
    pair = ablation.train_dataloader.dataset.pipeline[1]
    assert pair.type == 'DrawCorrelationalPair'
    assert pair.context_augmentation == RELEASE_AUGMENTATION
    assert pair.exemplar_augmentation == RELEASE_AUGMENTATION


@pytest.mark.parametrize('name', PAPER + ['cim_vitb_300e_folder.py'])
def test_checkpoints_every_epoch_and_on_a_signal(name):
    # Was every 10 epochs: a killed job lost up to 10 epochs. Now as
    # mmpretrain's MAE configs (every epoch, the last 3 kept), plus the
    # checkpoint StopOnSignalHook saves on SIGTERM/SIGUSR1.
    hooks = load(name).default_hooks
    assert hooks.checkpoint.type == 'AtomicCheckpointHook'  # kill-safe saves
    assert load(name).runner_type == 'CIMRunner'  # resumes the newest good one
    assert hooks.checkpoint.get('by_epoch', True)
    assert (hooks.checkpoint.interval, hooks.checkpoint.max_keep_ckpts) == (
        1, 3)
    assert hooks.stop_on_signal.type == 'StopOnSignalHook'


PRETRAINING = PAPER + [
    'cim_vitb_300e_folder.py', 'cim_demo.py',
    'ablations/cim_vitb_300e_in200_context-aug.py',
    'ablations/cim_vitb_300e_in200_siamfc.py',
    'knn_fashion_mnist/cim_vit-4l-128d_96px_fashion-mnist.py'
]


@pytest.mark.parametrize('name', PRETRAINING)
def test_pretraining_draws_per_sample_and_resumes_mid_epoch(name):
    cfg = load(name)
    loader = cfg.train_dataloader
    # Keyed indices, seeded by LoadCheckedImage, first in the pipeline.
    assert loader.dataset.pipeline[0].type == 'LoadCheckedImage'
    loops = {'ResumableSampler': 'ResumableEpochBasedTrainLoop',
             'ResumableInfiniteSampler': 'ResumableIterBasedTrainLoop'}
    assert cfg.train_cfg.type == loops[loader.sampler.type]
    assert loader.num_workers > 0 and loader.persistent_workers


KNN_MONITORED = {
    'cim_vitb_300e_knn-monitor.py': 'cim_vitb_300e.py',
    'knn_fashion_mnist/cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py':
    'knn_fashion_mnist/cim_vit-4l-128d_96px_fashion-mnist.py',
    'knn_fashion_mnist/mae_vit-4l-128d_96px_fashion-mnist_knn-monitor.py':
    'knn_fashion_mnist/mae_vit-4l-128d_96px_fashion-mnist.py',
}


@pytest.mark.parametrize('name', KNN_MONITORED)
def test_knn_monitor_configs_add_only_the_monitor(name):
    """The *_knn-monitor.py configs are their base plus KNNMonitorHook,
    whose images go through knn_eval.py's pipeline (nothing random)."""
    from cim_mm.evaluation.knn import knn_pipeline
    from mmpretrain.registry import HOOKS
    cfg, base = load(name), load(KNN_MONITORED[name])
    monitor, = [h for h in cfg.custom_hooks if h.type == 'KNNMonitorHook']
    assert [h for h in cfg.custom_hooks if h.type != 'KNNMonitorHook'
            ] == list(base.get('custom_hooks', []))
    helpers = {'custom_hooks', 'knn_pipeline', 'knn_monitor', 'knn_data_root'}
    assert not {key for key in set(cfg) | set(base)
                if cfg.get(key) != base.get(key)} - helpers
    hook = HOOKS.build(monitor)
    for part in (hook.memory, hook.query):
        pipeline = part['dataset']['pipeline']
        assert pipeline == knn_pipeline(pipeline[2]['crop_size'])
        assert 'sampler' not in part
    if name == 'cim_vitb_300e_knn-monitor.py':
        assert (hook.by_epoch, hook.interval) == (True, 10)
        assert hook.memory.dataset.ann_file == 'meta/train_10pc.txt'
        assert (hook.query.dataset.split, hook.query.dataset.indices) == (
            'val', 10000)
