"""cim_mm as an OpenMMLab plug-in seen from upstream's own tools.

- mmpretrain's own ``tools/train.py`` (shipped in its package's ``.mim/``)
  trains the shipped ``configs/cim_demo.py``: the config's ``custom_imports``
  (``cim_mm`` and the switch ``cim_mm.compat.enable``) is all it needs.
- A plain mmpretrain config that only adds ``custom_imports=['cim_mm']`` and
  a CIM-pre-trained backbone trains and saves exactly as without the import:
  the same weights, optimizer state, files and file modes.
"""
import os
import os.path as osp
import re
import stat
import subprocess
import sys

import mmpretrain
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'convert_cim.py')
MMPRETRAIN_TRAIN = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                            'train.py')
TIMEOUT = 300


def upstream_train(config, work_dir, *options):
    """mmpretrain's tools/train.py on ``config`` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, MMPRETRAIN_TRAIN, str(config), '--work-dir',
         str(work_dir), *options],
        cwd=str(work_dir.parent), capture_output=True, text=True,
        timeout=TIMEOUT)
    assert result.returncode == 0, (result.stdout[-3000:] +
                                    result.stderr[-3000:])
    return result.stdout + result.stderr


@pytest.mark.slow
def test_mmpretrains_own_train_py_trains_the_demo_config(
        demo_data_root, tiny_demo_cfg_options, tmp_path):
    options = tiny_demo_cfg_options(demo_data_root, max_iters=2)
    options['model.backbone.arch.num_layers'] = 2
    work_dir = tmp_path / 'work'
    upstream_train(DEMO_CONFIG, work_dir, '--cfg-options',
                   *[f'{key}={value}' for key, value in options.items()])
    state = torch.load(work_dir / 'iter_2.pth',
                       weights_only=False)['state_dict']
    assert any(key.startswith('target_backbone.') for key in state)
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'iter_2.pth')


# A classifier as an mmpretrain user writes it: mmpretrain's ViT initialised
# from a CIM pre-training (converted with tools/model_converters), nothing
# else of cim_mm. {imports} is '' or the custom_imports line.
PLAIN_CONFIG = '''
{imports}
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=128, num_layers=2, num_heads=4,
                  feedforward_channels=512),
        img_size=96, patch_size=16, out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint={weights!r})),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=3, in_channels=128,
              loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=3, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root={images!r},
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='RandomResizedCrop', scale=96),
                           dict(type='PackInputs')]))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
'''


def file_modes(work_dir):
    """{relative path: permission bits} of the run's files, with the run's
    timestamp (its log folder and file names) written as <time>."""
    modes = {}
    for root, _, files in os.walk(work_dir):
        for name in files:
            path = osp.join(root, name)
            relative = re.sub(r'\d{8}_\d{6}', '<time>',
                              osp.relpath(path, work_dir))
            modes[relative] = stat.S_IMODE(os.stat(path).st_mode)
    return modes


@pytest.mark.slow
def test_plain_mmpretrain_config_trains_and_saves_as_without_the_import(
        tiny_cim_run, run_tool_main, toy_class_images, tmp_path):
    _, cim_checkpoint = tiny_cim_run
    weights = tmp_path / 'cim_backbone.pth'
    converted = run_tool_main(CONVERTER, cim_checkpoint, weights, '--to',
                              'mmpretrain')
    assert converted.returncode == 0, converted.stderr
    runs = {}
    for arm, imports in (
            ('without', ''),
            ('with', "custom_imports = dict(imports=['cim_mm'], "
                     'allow_failed_imports=False)')):
        (tmp_path / f'{arm}_config').mkdir()
        config = tmp_path / f'{arm}_config' / 'plain.py'
        config.write_text(PLAIN_CONFIG.format(
            imports=imports, weights=str(weights),
            images=str(toy_class_images)))
        work_dir = tmp_path / arm
        work_dir.mkdir()
        log = upstream_train(config, work_dir)
        assert f'load model from: {weights}' in log, log[-2000:]
        runs[arm] = (torch.load(work_dir / 'iter_4.pth', weights_only=False),
                     file_modes(work_dir))
    (without, modes_without), (with_, modes_with) = (runs['without'],
                                                     runs['with'])
    # max_keep_ckpts=1: iter_2.pth deleted once iter_4.pth was saved
    assert 'iter_2.pth' not in modes_with and 'iter_4.pth' in modes_with
    assert modes_with == modes_without
    for part in ('state_dict', 'optimizer'):
        a, b = without[part], with_[part]
        if part == 'optimizer':
            a, b = a['state'], b['state']
            a = {(k, n): v for k, s in a.items() for n, v in s.items()}
            b = {(k, n): v for k, s in b.items() for n, v in s.items()}
        assert a.keys() == b.keys(), part
        for key in a:
            assert torch.equal(a[key], b[key]), (part, key)
    assert without['meta']['iter'] == with_['meta']['iter'] == 4
