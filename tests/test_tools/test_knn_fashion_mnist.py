"""The Fashion-MNIST k-NN comparison of docs/knn.md: its data tool on fabricated
IDX files, its two configs build the same ViT, its script parses."""
import gzip
import importlib.util
import os.path as osp
import subprocess

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'fashion_mnist_folders.py')
CONFIGS = osp.join(REPO, 'configs', 'knn_fashion_mnist')


def folders_tool():
    """tools/analysis_tools/fashion_mnist_folders.py as a module."""
    spec = importlib.util.spec_from_file_location('fashion_mnist_folders',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b''.join(
        int(n).to_bytes(4, 'big') for n in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_class_folders_from_idx_files(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (('train', 12), ('t10k', 6)):
        labels = np.arange(n) % 3  # classes 0, 1, 2
        write_idx(src / f'{prefix}-images-idx3-ubyte.gz',
                  rng.integers(0, 255, (n, 28, 28)))
        write_idx(src / f'{prefix}-labels-idx1-ubyte.gz', labels)
    out = tmp_path / 'out'
    status = folders_tool().main([
        str(out), '--source',
        str(src), '--size', '40', '--train-per-class', '2', '--test-per-class',
        '5'
    ])
    assert status == 0
    for split, per_class in (('train', 2), ('test', 2)):
        for name in ('t-shirt', 'trouser', 'pullover'):
            files = list((out / split / name).glob('*.png'))
            assert len(files) == per_class, (split, name)
            assert cv2.imread(str(files[0])).shape == (40, 40, 3)


def test_missing_package_error_names_it(tmp_path, capsys):
    status = folders_tool().main([str(tmp_path / 'out'), '--source',
                                  str(tmp_path)])
    assert status == 2
    assert 'apt-get install dataset-fashion-mnist' in capsys.readouterr().err


def test_cim_and_mae_configs_train_the_same_vit():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        cim = MODELS.build(
            Config.fromfile(
                osp.join(CONFIGS,
                         'cim_vit-4l-128d_96px_fashion-mnist.py')).model)
        mae = MODELS.build(
            Config.fromfile(
                osp.join(CONFIGS,
                         'mae_vit-4l-128d_96px_fashion-mnist.py')).model)
    shapes = [
        tuple(p.shape) for n, p in cim.backbone.named_parameters()
        if n.startswith('layers.')
    ]
    assert shapes == [
        tuple(p.shape) for n, p in mae.backbone.named_parameters()
        if n.startswith('layers.')
    ]
    assert len({
        n.split('.')[1]
        for n, _ in cim.backbone.named_parameters() if n.startswith('layers.')
    }) == 4


def test_run_script_parses():
    subprocess.run([
        'bash', '-n',
        osp.join(REPO, 'tools', 'analysis_tools', 'knn_fashion_mnist.sh')
    ],
                   check=True,
                   timeout=30)


def test_exemplar_aug_config_differs_only_in_the_exemplar_recipe():
    base = Config.fromfile(
        osp.join(CONFIGS, 'cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py'))
    aug = Config.fromfile(
        osp.join(CONFIGS, 'cim_vit-4l-128d_96px_fashion-mnist_exemplar-aug_'
                 'knn-monitor.py'))
    release = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', 'imagenet_cim.py'))
    draw = aug.train_dataloader.dataset.pipeline[1]
    assert draw.exemplar_augmentation == release.exemplar_augmentation
    assert draw.exemplar_flip_prob == 0.5
    base_draw = base.train_dataloader.dataset.pipeline[1]
    assert base_draw.exemplar_augmentation is None
    for key in ('type', 'context_size', 'exemplar_size'):
        assert draw[key] == base_draw[key]
    assert aug.model == base.model and aug.custom_hooks == base.custom_hooks
