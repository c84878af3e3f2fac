"""tools/analysis_tools/knn_eval.py end to end: a CIM runner checkpoint,
random init, an mmpretrain MAE config (``mmpretrain::``), and a checkpoint
of another backbone, on tiny folders of real photos."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmpretrain.models import ResNet

import cim_mm  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'knn_eval.py')
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
MAE_CONFIG = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'


@pytest.fixture(scope='module')
def folders(knn_folders):
    """The tool's arguments for tests/conftest.py's labelled folders."""
    train, val = knn_folders
    return ['--train-root', train, '--val-root', val]


def run_tool(*args):
    return subprocess.run([
        sys.executable, TOOL, *map(str, args), '--num-workers', '0',
        '--batch-size', '4', '--device', 'cpu'
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=600)


def check_results(path, **expected):
    with open(path) as f:
        results = json.load(f)
    assert 0 <= results['top1'] <= 100 and results['top5'] == 100
    assert (results['num_train'], results['num_val'],
            results['num_classes']) == (12, 6, 3)
    for key, value in expected.items():
        assert results[key] == value, key
    return results


@pytest.mark.slow
def test_cim_checkpoint_and_random_init(tiny_cim_run, folders, tmp_path):
    config, checkpoint = tiny_cim_run
    out = run_tool(config, checkpoint, *folders, '--input-size', 32, '--out',
                   tmp_path / 'cim.json')
    assert out.returncode == 0, out.stderr
    assert 'top-1' in out.stdout and 'top-5 100.00%' in out.stdout
    results = check_results(tmp_path / 'cim.json',
                            checkpoint=checkpoint,
                            input_size=32,
                            feature_dim=128,
                            k=12)
    assert results['load']['missing'] == [] and results['load']['loaded'] > 0

    out = run_tool(DEMO_CONFIG, *folders, '--out', tmp_path / 'random.json',
                   '--input-size', 32, '--k', 5, '--temperature', 0.1,
                   '--cfg-options', 'model.backbone.arch.num_layers=2')
    assert out.returncode == 0, out.stderr
    assert 'random initialisation' in out.stdout
    check_results(tmp_path / 'random.json',
                  checkpoint=None,
                  load=None,
                  k=5,
                  temperature=0.1)


@pytest.mark.slow
def test_mae_config_of_mmpretrain(folders, tmp_path):
    """MAE's MAEViT (deit-tiny width, 32 px), random init."""
    out = run_tool(MAE_CONFIG, *folders, '--out', tmp_path / 'mae.json',
                   '--cfg-options', 'model.backbone.arch=deit-tiny',
                   'model.backbone.img_size=32')
    assert out.returncode == 0, out.stderr
    check_results(tmp_path / 'mae.json', input_size=32, feature_dim=192)


@pytest.mark.slow
def test_checkpoint_of_another_backbone_fails(tiny_cim_run, folders, tmp_path):
    config, _ = tiny_cim_run
    resnet = tmp_path / 'resnet.pth'
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in ResNet(18).state_dict().items()
        }), resnet)
    out = run_tool(config, resnet, *folders, '--input-size', 32)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert (f"checkpoint {resnet}: none of its keys is a key of the "
            "config's CIMViT") in out.stderr
