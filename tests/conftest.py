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


TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'toy_config.py')


def toy_cfg(data_root, work_dir, name, **overrides):
    """tests/data/toy_config.py (a tiny classifier) on ``data_root``."""
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.merge_from_dict({
        f'{split}_dataloader.dataset.data_root': str(data_root)
        for split in ('train', 'val', 'test')
    })
    cfg.merge_from_dict(
        dict(work_dir=str(work_dir), experiment_name=name, **overrides))
    return cfg


@pytest.fixture(name='toy_cfg')
def toy_cfg_fixture():
    return toy_cfg


@pytest.fixture(scope='session')
def toy_runner_checkpoint(toy_class_images, tmp_path_factory):
    """A checkpoint saved by an mmengine runner after 2 training iterations
    of the toy classifier (message hub, optimizer, schedulers, meta)."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('toy_trained')
    cfg = toy_cfg(toy_class_images, work_dir, 'toy_runner_checkpoint',
                  **{'train_cfg.max_iters': 2})
    Runner.from_cfg(cfg).train()
    return work_dir / 'iter_2.pth'


@pytest.fixture(scope='session')
def draw():
    """``draw(transform_cfg, count, seed=0)``: the outputs of a registered
    transform on three real photos (BGR) in turn, each call seeded."""
    import skimage.data
    from mmpretrain.registry import TRANSFORMS
    photos = [
        f()[..., ::-1].copy() for f in (skimage.data.astronaut,
                                        skimage.data.chelsea,
                                        skimage.data.coffee)
    ]

    def run(transform_cfg, count, seed=0):
        transform = TRANSFORMS.build(transform_cfg)
        out = []
        for i in range(count):
            np.random.seed(seed + i)
            random.seed(seed + i)
            out.append(transform({'img': photos[i % len(photos)].copy()}))
        return out

    return run


@pytest.fixture(scope='session')
def tiny_cim_run(demo_data_root, tmp_path_factory):
    """(config file written by the runner, iter_2.pth) of 2 CIM steps of
    the demo's model with 2 layers (96 px contexts, 48 px exemplars): a real
    runner checkpoint, trained once per test session."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('tiny_cim_run')
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(tiny_demo_cfg_options(demo_data_root, max_iters=2))
    cfg.merge_from_dict({
        'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None,
        'test_cfg': None, 'test_dataloader': None, 'test_evaluator': None
    })
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = work_dir.name
    Runner.from_cfg(cfg).train()
    return str(work_dir / 'cim_demo.py'), str(work_dir / 'iter_2.pth')


@pytest.fixture(scope='session')
def nonsquare_photos(tmp_path_factory):
    """Two real, non-square photos as PNG: coffee 600x400, chelsea
    451x300."""
    import cv2
    import skimage.data
    root = tmp_path_factory.mktemp('nonsquare_photos')
    paths = {}
    for name in ('coffee', 'chelsea'):
        paths[name] = str(root / f'{name}.png')
        cv2.imwrite(paths[name], getattr(skimage.data, name)()[..., ::-1])
    return paths
