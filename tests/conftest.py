"""Shared fixtures: real offline photos and a tiny CIM training config."""
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')


@pytest.fixture(autouse=True)
def seed_global_rngs():
    """Seed random, numpy and torch before each test, so that its draws do
    not depend on test order or on what earlier tests (Runners, seeding
    tests) left in the global RNGs."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory):
    """The demo photos (train/ and val/) written once per test session."""
    from cim_mm.utils import write_demo_images
    root = str(tmp_path_factory.mktemp('cim_demo_data'))
    write_demo_images(root)
    return root


@pytest.fixture(scope='session')
def toy_class_images(tmp_path_factory):
    """Three class folders of two real photos each (skimage's bundled set),
    for the classification toy config of the compat and launcher tests."""
    import skimage.data
    from PIL import Image
    root = tmp_path_factory.mktemp('toy_images')
    for name in ('astronaut', 'chelsea', 'coffee'):
        image = getattr(skimage.data, name)()
        (root / name).mkdir(parents=True)
        half = image.shape[1] // 2
        Image.fromarray(image[:, :half]).save(root / name / 'left.png')
        Image.fromarray(image[:, half:]).save(root / name / 'right.png')
    return root


def tiny_demo_cfg_options(data_root, max_iters=4, batch_size=2):
    """`--cfg-options` that shrink configs/cim_demo.py to a seconds-long run."""
    return {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'test_dataloader.num_workers': 0,
        'model.backbone.arch.num_layers': 2,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'param_scheduler.0.end': 1,
        'param_scheduler.1.begin': 1,
        'param_scheduler.1.end': max_iters,
        'param_scheduler.1.T_max': max_iters - 1,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
    }


@pytest.fixture(name='tiny_demo_cfg_options')
def tiny_demo_cfg_options_fixture():
    return tiny_demo_cfg_options


@pytest.fixture
def tiny_demo_cfg(demo_data_root, tmp_path):
    """configs/cim_demo.py shrunk to a 4-iteration run in tmp_path, named
    after tmp_path (unique per test) so Runners never share instances."""
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(tiny_demo_cfg_options(demo_data_root))
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.experiment_name = tmp_path.name
    return cfg
