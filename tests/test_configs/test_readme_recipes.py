"""Every ablation command of docs/ablations.md builds and trains one step."""
import argparse
import os.path as osp
import re
import shlex

import numpy as np
import pytest
import skimage.data
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate

from mmpretrain.registry import MODELS, TRANSFORMS

import cim_mm  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def readme_commands():
    text = open(osp.join(REPO, 'docs', 'ablations.md')).read()
    section = text[text.index('## Commands'):]
    block = section[section.index('```bash'):]
    block = block[:block.index('```', 3)]
    variables = dict(re.findall(r'^(\w+)=(\S+)$', block, re.M))
    commands = []
    for line in block.splitlines():
        if line.startswith('bash tools/dist_train.sh'):
            for name, value in variables.items():
                line = line.replace(f'${name}', value)
            commands.append(line)
    return commands


def test_readme_lists_every_ablation_family():
    joined = ' '.join(readme_commands())
    for needle in ('scale_range', 'ratio_range', 'rotation_range',
                   'exemplar_augmentation', 'context-aug', 'bootstrap=shared',
                   'bootstrap=online_context', 'BalancedBinaryCrossEntropy',
                   'SigmoidMSELoss', 'FocalLoss', 'correlation=convolution',
                   'predictor=deconv', 'neck.depth', 'neck.embed_dim',
                   '_siamfc.py', '_siamrpn.py', '_transt.py'):
        assert needle in joined, needle


@pytest.mark.parametrize('command', readme_commands())
def test_readme_recipe_builds_and_trains_one_step(command):
    # drop `bash tools/dist_train.sh` and a trailing `# comment`
    argv = shlex.split(command, comments=True)[2:]
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('gpus')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(osp.join(REPO, args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # A tiny encoder: the recipe's own settings are what is being checked.
    cfg.model.backbone.arch = dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)
    cfg.model.neck.in_channels = 32

    crop_cfg = cfg.train_dataloader.dataset.pipeline[1]
    pack = TRANSFORMS.build(cfg.train_dataloader.dataset.pipeline[2])
    crop = TRANSFORMS.build(crop_cfg)
    img = skimage.data.astronaut()[..., ::-1].copy()
    np.random.seed(0)
    batch = default_collate(
        [pack(crop(dict(img=img.copy()))) for _ in range(2)])

    model = MODELS.build(cfg.model)
    model.init_weights()
    data = model.data_preprocessor(batch, training=True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in model.neck.parameters())
