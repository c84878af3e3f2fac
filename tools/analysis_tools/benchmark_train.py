"""Training-step throughput and peak memory of a pre-training config.

Builds the config's model and optimizer wrapper, feeds it one fixed batch
(real pairs from the offline photos for CIM, random 224x224 images for other
algorithms such as mmpretrain's MAE) so that the data pipeline is not what is
measured, and prints images/s and peak accelerator memory. Examples::

    python tools/analysis_tools/benchmark_train.py configs/cim_vitb_300e.py \\
        --batch-size 512 --iters 50 --amp
    python tools/analysis_tools/benchmark_train.py \\
        mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py \\
        --batch-size 512 --iters 50 --amp
"""
import argparse
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.utils import get_installed_path

from mmpretrain.registry import MODELS, TRANSFORMS

import cim_mm  # noqa: F401


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--iters', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--amp', action='store_true',
                        help='fp16 AMP on a GPU, bf16 autocast on CPU')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def fixed_batch(cfg, batch_size):
    """One collated batch: CIM pairs from real photos, else random images."""
    if cfg.model.type != 'CIM':
        images = torch.randint(0, 256, (batch_size, 3, 224, 224),
                               dtype=torch.uint8)
        return dict(inputs=images, data_samples=None)
    from cim_mm.utils.offline_photos import skimage_photos
    pipeline = cfg.train_dataloader.dataset.pipeline
    crop, pack = TRANSFORMS.build(pipeline[1]), TRANSFORMS.build(pipeline[2])
    photos = [p if p.ndim == 3 else np.stack([p] * 3, -1)
              for p in skimage_photos().values()]
    samples = [
        pack(crop(dict(img=photos[i % len(photos)][..., ::-1].copy())))
        for i in range(batch_size)
    ]
    return default_collate(samples)


def load_config(path):
    """A config file, or ``package::path`` inside an installed package."""
    if '::' in path:
        package, relative = path.split('::', 1)
        path = osp.join(get_installed_path(package), '.mim', 'configs',
                        relative)
    return Config.fromfile(path)


def main():
    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cuda = torch.cuda.is_available()
    device = 'cuda' if cuda else 'cpu'
    optim_cfg = cfg.optim_wrapper.copy()
    if args.amp:
        optim_cfg.type = 'AmpOptimWrapper' if cuda else 'CPUAmpOptimWrapper'
        if not cuda:
            optim_cfg.pop('loss_scale', None)
    else:
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)

    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmpretrain')):
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.to(device).train()
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
    batch = fixed_batch(cfg, args.batch_size)

    def step():
        data = model.data_preprocessor(batch, training=True)
        with optim_wrapper.optim_context(model):
            losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim_wrapper.update_params(loss)
        if hasattr(model, 'update_target'):
            model.update_target(0.99)

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.iters):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    name = torch.cuda.get_device_name() if cuda else 'CPU'
    print(f'{args.config} on {name}, batch {args.batch_size}, '
          f'{"AMP" if args.amp else "fp32"}: '
          f'{args.batch_size * args.iters / seconds:.1f} images/s, '
          f'{seconds / args.iters * 1000:.0f} ms/step', end='')
    if cuda:
        print(f', peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f}'
              ' GiB')
    else:
        print()


if __name__ == '__main__':
    main()
