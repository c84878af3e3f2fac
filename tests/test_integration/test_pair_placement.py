"""The shipped ViT-B config gives the same
pairs on a machine with a GPU and on one without: nothing in the pipeline
depends on ``torch.cuda.is_available()``, and the two placements of the one
function (the preprocessor on the model's device; ``pair_synthesis_collate``
in the workers) agree: maps identical, pixels within 1 grey level."""
import functools
import os.path as osp
from unittest import mock

import skimage.data
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import FUNCTIONS
from PIL import Image

import cim_mm  # noqa: F401
from cim_mm.datasets import SampleKey, pair_synthesis_collate
from mmpretrain.registry import MODELS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'cim_vitb_300e.py')


def build_as(machine_has_gpu, files):
    """The config's pipeline and collate_fn, built as on a machine with or
    without a GPU, run on keyed samples (seed 0, epoch 0)."""
    cfg = Config.fromfile(CONFIG)
    with mock.patch('torch.cuda.is_available', return_value=machine_has_gpu), \
            mock.patch('torch.cuda.device_count',
                       return_value=int(machine_has_gpu)):
        pipeline = Compose([TRANSFORMS.build(dict(step))
                            for step in cfg.train_dataloader.dataset.pipeline])
        collate_cfg = dict(cfg.train_dataloader.collate_fn)
        collate = functools.partial(FUNCTIONS.get(collate_cfg.pop('type')),
                                    **collate_cfg)
        samples = [pipeline(dict(img_path=files[i % len(files)],
                                 sample_idx=SampleKey(i, 0, 0)))
                   for i in range(6)]
    return repr(pipeline), samples, collate, MODELS.build(
        cfg.model.data_preprocessor)


def test_vitb_pairs_are_the_same_on_a_gpu_and_a_cpu_machine(tmp_path):
    files = []
    for name in ('astronaut', 'chelsea', 'coffee'):
        files.append(str(tmp_path / f'{name}.jpg'))
        Image.fromarray(getattr(skimage.data, name)()).save(files[-1])
    gpu_repr, gpu_samples, gpu_collate, preprocessor = build_as(True, files)
    cpu_repr, cpu_samples, _, _ = build_as(False, files)
    assert gpu_repr == cpu_repr and 'DrawCorrelationalPair' in gpu_repr
    # A GPU machine: the config's collate, pairs in the preprocessor.
    on_device = preprocessor(gpu_collate(gpu_samples), True)
    # A CPU machine, pairs in the workers.
    in_workers = preprocessor(pair_synthesis_collate(cpu_samples), True)
    for a, b in zip(on_device['data_samples'], in_workers['data_samples']):
        assert torch.equal(a.corr_maps, b.corr_maps)
        assert torch.equal(a.exemplar_augmentation, b.exemplar_augmentation)
    std = preprocessor.std.min()
    for a, b in zip(on_device['inputs'], in_workers['inputs']):
        # normalised: 1 grey level is 1 / std
        assert ((a - b).abs() * std).max() <= 1 + 1e-4
