"""tools/analysis_tools/eval_robustness.py and evaluate_robustness, on
fabricated benchmark folders with their real layouts and a tiny classifier
whose every prediction is known.

The classifier (built from a config written here) average-pools the
normalised 32 x 32 image to 4 x 4 and scores the 1000 classes linearly: the
4 classes below score ``<f, t_k> - |t_k|^2 / 2`` (nearest template ``t_k``,
each a solid colour), all others -1e4. Images are solid colours plus a
little noise; a "decoy" image of class A is 0.4 A + 0.6 D, nearest to D
among all classes but to A among {A, B, C} (ImageNet-A's classes here).
"""
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModule
from PIL import Image

from cim_mm.evaluation.robustness import (CORRUPTIONS, AttackProtocol,
                                          PixelSpaceClassifier,
                                          alexnet_errors, dataset_folders,
                                          evaluate_robustness, wnid_to_index)
from mmpretrain.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'eval_robustness.py'
TIMEOUT = 600
# Real ImageNet-1K WordNet ids: goldfish, cock, robin, bullfrog.
A, B, C, D = 'n01443537', 'n01514668', 'n01558993', 'n01641577'
COLOURS = {A: (200, 50, 50), B: (50, 200, 50), C: (50, 50, 200),
           D: (200, 200, 50)}
DECOY = tuple(0.4 * a + 0.6 * d for a, d in zip(COLOURS[A], COLOURS[D]))
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@MODELS.register_module(force=True)
class RobustnessToyPool(BaseModule):
    """(N, 3, H, W) -> ((N, 3 * size * size) average-pooled features, )."""

    def __init__(self, size=4):
        super().__init__()
        self.size = size

    def forward(self, x):
        return (F.adaptive_avg_pool2d(x, self.size).flatten(1), )


CONFIG = f"""
custom_imports = dict(imports=['cim_mm', 'test_eval_robustness'],
                      allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', mean={MEAN},
                           std={STD}, to_rgb=True),
    backbone=dict(type='RobustnessToyPool', size=4),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=48,
              loss=dict(type='CrossEntropyLoss')))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=36, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
test_dataloader = dict(batch_size=3, num_workers=0,
                       dataset=dict(pipeline=test_pipeline))
"""


def save_image(path, colour, size, seed):
    noise = np.random.default_rng(seed).uniform(-8, 8, (size, size, 3))
    pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)


def write_classes(root, images, size=40):
    """``images``: wnid -> colours, one image each."""
    for wnid, colours in images.items():
        for i, colour in enumerate(colours):
            save_image(root / wnid / f'{wnid}_{i}.JPEG', colour, size,
                       seed=zlib.crc32(f'{root.name}/{wnid}/{i}'.encode()))


def template_state_dict():
    """The nearest-template head (normalised space, RGB)."""
    weight = torch.zeros(1000, 48)
    bias = torch.full((1000, ), -1e4)
    for wnid, colour in COLOURS.items():
        t = ((torch.tensor(colour, dtype=torch.float) - torch.tensor(MEAN))
             / torch.tensor(STD)).repeat_interleave(16)
        weight[wnid_to_index()[wnid]] = t
        bias[wnid_to_index()[wnid]] = -t.square().sum() / 2
    return {'head.fc.weight': weight, 'head.fc.bias': bias}


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    """The config, a runner-style checkpoint and every benchmark folder."""
    tmp = tmp_path_factory.mktemp('robustness')
    pure = {w: [c, c] for w, c in COLOURS.items()}
    write_classes(tmp / 'data' / 'imagenet' / 'val', pure)
    write_classes(tmp / 'data' / 'imagenet-a',
                  {A: [DECOY, DECOY], B: pure[B], C: pure[C]})
    write_classes(tmp / 'data' / 'imagenet-r', {B: pure[B], D: pure[D]})
    write_classes(tmp / 'data' / 'imagenet-sketch',
                  dict(pure, **{A: [COLOURS[A], DECOY]}))
    for corruption in CORRUPTIONS:
        for severity in range(1, 6):
            decoy = corruption == 'fog' and severity >= 3
            write_classes(
                tmp / 'data' / 'imagenet-c' / corruption / str(severity),
                {A: [DECOY if decoy else COLOURS[A]], B: [COLOURS[B]]},
                size=32)
    config = tmp / 'toy_robustness.py'
    config.write_text(CONFIG)
    checkpoint = tmp / 'toy.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=template_state_dict()),
               checkpoint)
    return dict(tmp=tmp, data=tmp / 'data', config=config,
                checkpoint=checkpoint)


def expected_mce():
    """By hand: only fog at severities 3-5 has an error (1 image of 2)."""
    ce_fog = (0 + 0 + 0.5 + 0.5 + 0.5) / (5 * alexnet_errors()['fog'])
    return 100 * ce_fog / 15, 100 * ce_fog


def build_model(bench):
    cfg = Config.fromfile(str(bench['config']))
    model = MODELS.build(cfg.model)
    model.load_state_dict(template_state_dict(), strict=True)
    return model.eval(), cfg.test_pipeline


def run(command, **env):
    result = subprocess.run(
        [str(c) for c in command], cwd=ROOT, timeout=TIMEOUT,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
            filter(None, [str(ROOT), str(Path(__file__).parent),
                          os.environ.get('PYTHONPATH')])), **env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope='module')
def cli_run(bench):
    """All six benchmarks through the command line, one process."""
    out = bench['tmp'] / 'one_process.json'
    result = run([sys.executable, TOOL, bench['config'], bench['checkpoint'],
                  '--data-root', bench['data'], '--out', out])
    return result.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_cli_prints_and_writes_the_row(cli_run):
    stdout, report = cli_run
    mce, ce_fog = expected_mce()
    assert report['row'] == pytest.approx({
        'FGSM': 100., 'PGD': 100., 'IN-C mCE (lower is better)': mce,
        'IN-A': 100., 'IN-R': 100., 'IN-SK': 87.5, 'Orig.': 100.})
    results = report['results']
    assert results['imagenet-c']['corruptions']['fog']['ce'] == \
        pytest.approx(ce_fog)
    assert results['imagenet-c']['corruptions']['fog'][
        'top1_by_severity'] == [100., 100., 50., 50., 50.]
    assert results['imagenet-c']['num_images'] == 150
    assert results['imagenet-a']['num_classes'] == 3
    assert results['imagenet-r']['num_classes'] == 2
    assert results['protocol'] == dict(
        fgsm_epsilon=1., pgd_epsilon=1., pgd_step_size=0.5, pgd_steps=5,
        pgd_random_start=True, pixel_max=255., seed=0)
    assert f'{mce:.1f}' in stdout and '| IN-A |' in stdout
    assert 'alexnet' in results['imagenet-c']['alexnet_errors_source'] or \
        'AlexNet' in results['imagenet-c']['alexnet_errors_source']


@pytest.mark.slow
def test_python_api_gives_the_same_figures(bench, cli_run):
    model, pipeline = build_model(bench)
    results = evaluate_robustness(
        model, pipeline, dataset_folders(str(bench['data'])),
        batch_size=4, progress=False)
    assert json.loads(json.dumps(results)) == cli_run[1]['results']


def test_subset_logits_decide_imagenet_a(bench):
    """Unrestricted, the decoys of class A go to D (absent from IN-A's
    folders); restricted to the 3 classes present they are right."""
    model, pipeline = build_model(bench)
    classifier = PixelSpaceClassifier(model)
    from cim_mm.evaluation.robustness import (LabelledImages,
                                              scan_class_folders)
    samples = scan_class_folders(str(bench['data'] / 'imagenet-a'), 'IN-A')
    images = LabelledImages(samples, pipeline)
    logits = classifier(classifier.pixels(
        [images[i]['inputs'] for i in range(len(images))]))
    labels = torch.tensor([s.label for s in samples])
    index = wnid_to_index()
    assert (logits.argmax(1) == labels).tolist() == [False] * 2 + [True] * 4
    assert (logits.argmax(1)[:2] == index[D]).all()
    results = evaluate_robustness(
        model, pipeline, dataset_folders(str(bench['data'])),
        benchmarks=['imagenet-a'], progress=False)
    assert results['imagenet-a']['top1'] == 100.


def test_attacks_through_the_api(bench):
    model, pipeline = build_model(bench)
    folders = dataset_folders(str(bench['data']))
    zero = evaluate_robustness(
        model, pipeline, folders, benchmarks=['fgsm', 'pgd'],
        protocol=AttackProtocol(fgsm_epsilon=0, pgd_epsilon=0),
        progress=False)
    assert zero['fgsm']['top1'] == zero['pgd']['top1'] == \
        zero['imagenet-1k']['top1'] == 100.
    strong = evaluate_robustness(
        model, pipeline, folders, benchmarks=['fgsm', 'pgd'],
        protocol=AttackProtocol(fgsm_epsilon=120, pgd_epsilon=120,
                                pgd_step_size=40), progress=False)
    assert strong['fgsm']['top1'] < 100. and strong['pgd']['top1'] < 100.


def test_missing_and_malformed_folders_are_named(bench, tmp_path):
    model, pipeline = build_model(bench)
    folders = dataset_folders(str(bench['data']),
                              imagenet_r=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='imagenet-r.*nowhere'):
        evaluate_robustness(model, pipeline, folders,
                            benchmarks=['imagenet-r'], progress=False)
    (tmp_path / 'c' / 'fog' / '1').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='74 of the 75.*gaussian_no'):
        evaluate_robustness(
            model, pipeline,
            dataset_folders(imagenet_c=str(tmp_path / 'c')),
            benchmarks=['imagenet-c'], progress=False)
    (tmp_path / 'sk' / 'cats').mkdir(parents=True)
    with pytest.raises(ValueError, match=r"not ImageNet-1K WordNet.*'cats'"):
        evaluate_robustness(
            model, pipeline,
            dataset_folders(imagenet_sketch=str(tmp_path / 'sk')),
            benchmarks=['imagenet-sketch'], progress=False)


@pytest.mark.slow
def test_two_processes_give_the_same_figures(bench, cli_run):
    out = bench['tmp'] / 'two_processes.json'
    run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc_per_node', 2, TOOL, bench['config'], bench['checkpoint'],
         '--data-root', bench['data'], '--out', out, '--launcher', 'pytorch',
         '--no-progress'])
    report = json.loads(out.read_text())
    assert report['world_size'] == 2
    assert report['results'] == cli_run[1]['results']
