"""Data-side throughput of pre-training configs on ImageNet-sized JPEGs.

1. Writes (once per folder) an ImageNet-style tree ``DIR/train/<wnid>/*.JPEG``
   from the offline photos: random crops resized to 400-500 px wide, JPEG
   quality 90 (ImageNet's typical size and quality).
2. One core: each config's training pipeline, decode included
   (``dataset[i]``), in samples/s; with ``--compare`` the second config's
   on the same files in the same process, and the ratio. With
   ``--collate-batch B`` the samples are also collated in batches of B by
   the config's ``collate_fn`` (which may build the pairs:
   ``pair_synthesis_collate``), included in the time.
3. ``--workers W``: the config's own dataloader with W workers for
   ``--iters`` batches, in samples/s; with ``--train``, also the model's
   training step on the device, reporting the share of the wall time that
   the step waited for data.

Examples::

    python tools/analysis_tools/benchmark_data.py configs/cim_vitb_300e.py \\
        --compare mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
    python tools/analysis_tools/benchmark_data.py configs/cim_vitb_300e.py \\
        --workers 15 --iters 30 --batch-size 512 --train
"""
import os

# One core for the one-core figures: before numpy/torch/cv2 start threads.
os.environ.setdefault('OMP_NUM_THREADS', '1')

import argparse  # noqa: E402
import functools  # noqa: E402
import os.path as osp  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import FUNCTIONS, DefaultScope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmpretrain.registry import DATASETS, MODELS  # noqa: E402

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: E402,F401
from cim_mm.compat import load_config  # noqa: E402
from cim_mm.utils.offline_photos import available_photos  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--compare', metavar='CONFIG',
                        help='a second config timed on the same files')
    parser.add_argument('--compare-cfg-options', nargs='+',
                        action=DictAction,
                        help='--cfg-options for the --compare config')
    parser.add_argument('--collate-batch', type=int, default=0,
                        help='one-core figures: also collate batches of '
                        'this size with the config\'s collate_fn')
    parser.add_argument('--data-root',
                        help='where the JPEG tree is (written if missing); '
                        'default: a temporary folder')
    parser.add_argument('--num-images', type=int, default=200)
    parser.add_argument('--num-samples', type=int, default=200,
                        help='samples per one-core timing')
    parser.add_argument('--workers', type=int, default=0,
                        help='also time the config\'s dataloader with this '
                        'many workers')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--batch-size', type=int,
                        help='dataloader batch size (default: the config\'s)')
    parser.add_argument('--train', action='store_true',
                        help='run the training step too, report data wait')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides for CONFIG (not for --compare), e.g. '
                        'train_dataloader.collate_fn.type='
                        'pair_synthesis_collate')
    return parser.parse_args(argv)


def write_jpeg_tree(root, num_images, seed=0):
    """``root/train/n<8 digits>/*.JPEG``: random crops of the offline
    photos present (foolbox's, scikit-image's or both) resized to 400-500 px wide, quality 90. Returns ``root``."""
    train = osp.join(root, 'train')
    if osp.isdir(train) and sum(len(f) for _, _, f in os.walk(train)):
        return root
    rng = random.Random(seed)
    photos = available_photos()  # foolbox's and/or scikit-image's
    for index in range(num_images):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        crop_h = rng.randint(height // 2, height)
        crop_w = rng.randint(width // 2, width)
        top = rng.randint(0, height - crop_h)
        left = rng.randint(0, width - crop_w)
        crop = photo[top:top + crop_h, left:left + crop_w]
        new_w = rng.randint(400, 500)
        new_h = max(1, round(crop_h * new_w / crop_w))
        image = cv2.resize(np.ascontiguousarray(crop), (new_w, new_h),
                           interpolation=cv2.INTER_CUBIC)
        folder = osp.join(train, f'n{index % 10:08d}')
        os.makedirs(folder, exist_ok=True)
        cv2.imwrite(osp.join(folder, f'img_{index:05d}.JPEG'), image,
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    return root


def dataset_config(cfg, data_root):
    """The config's training dataset over the JPEG tree (no labels used)."""
    dataset = cfg.train_dataloader.dataset.copy()
    dataset.update(type='CustomDataset', data_root=data_root,
                   data_prefix='train', with_label=False)
    for key in ('split', 'ann_file', 'classes'):
        dataset.pop(key, None)
    return dataset


def one_core_rate(cfg, data_root, num_samples, collate_batch=0):
    """Samples/s of ``dataset[i]`` (decode + pipeline) on this thread; with
    ``collate_batch``, also the config's ``collate_fn`` on batches of that
    size (``num_samples`` rounded up to whole batches)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        dataset = DATASETS.build(dataset_config(cfg, data_root))
        collate_cfg = dict(cfg.train_dataloader.get(
            'collate_fn', dict(type='pseudo_collate')))
        collate_cfg.pop('_scope_', None)  # mmpretrain:: configs carry it
        collate = functools.partial(FUNCTIONS.get(collate_cfg.pop('type')),
                                    **collate_cfg)
    batch = collate_batch or 1
    batches = -(-num_samples // batch)

    def run(count):
        for first in range(0, count * batch, batch):
            samples = [dataset[(first + i) % len(dataset)]
                       for i in range(batch)]
            if collate_batch:
                collate(samples)

    run(max(1, 5 // batch))  # warm-up
    start = time.perf_counter()
    run(batches)
    return batches * batch / (time.perf_counter() - start)


def loader_rate(cfg, data_root, args):
    """Samples/s of the config's dataloader (and the data-wait share of a
    training run with ``--train``)."""
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.dataset = dataset_config(cfg, data_root)
    loader_cfg.update(num_workers=args.workers,
                      persistent_workers=args.workers > 0,
                      pin_memory=torch.cuda.is_available())
    if args.batch_size:
        loader_cfg.batch_size = args.batch_size
    sampler = loader_cfg.get('sampler', {})
    if sampler.get('type') == 'DefaultSampler':
        loader_cfg.sampler = dict(type='InfiniteSampler', shuffle=True)
    elif sampler.get('type') == 'ResumableSampler':  # the same, keyed
        loader_cfg.sampler = dict(type='ResumableInfiniteSampler',
                                  shuffle=True)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        loader = Runner.build_dataloader(loader_cfg, seed=args.seed)
        model = None
        if args.train:
            from benchmark_train import optim_config, resolve_precision
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
            model = MODELS.build(cfg.model).to(device).train()
            model.init_weights()
            from mmengine.optim import build_optim_wrapper
            precision = resolve_precision(
                argparse.Namespace(amp=False, bf16=False,
                                   precision='config'), cfg,
                device == 'cuda')
            optim_wrapper = build_optim_wrapper(
                model, optim_config(cfg, precision, device == 'cuda', False))
    batches = iter(loader)
    next(batches)  # workers started, first batch in
    waited = 0.0
    start = time.perf_counter()
    for _ in range(args.iters):
        before = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - before
        if model is not None:
            data = model.data_preprocessor(batch, training=True)
            with optim_wrapper.optim_context(model):
                losses = model(**data, mode='loss')
            optim_wrapper.update_params(
                sum(v for k, v in losses.items() if 'loss' in k))
            if torch.cuda.is_available():
                torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return loader_cfg.batch_size * args.iters / seconds, waited / seconds


def main(argv=None):
    args = parse_args(argv)
    data_root = args.data_root or tempfile.mkdtemp(prefix='cim_jpegs_')
    write_jpeg_tree(data_root, args.num_images, args.seed)
    count = sum(len(f) for _, _, f in os.walk(osp.join(data_root, 'train')))
    print(f'{count} JPEGs (400-500 px wide, quality 90) in {data_root}')
    rates = []
    for path in filter(None, [args.config, args.compare]):
        cfg = load_config(path)
        options = (args.cfg_options if path == args.config else
                   args.compare_cfg_options)
        if options:
            cfg.merge_from_dict(options)
        random.seed(args.seed)
        np.random.seed(args.seed)
        rate = one_core_rate(cfg, data_root, args.num_samples,
                             args.collate_batch)
        rates.append(rate)
        what = 'decode + pipeline' + (
            f' + collate_fn (batches of {args.collate_batch})'
            if args.collate_batch else '')
        print(f'{path}: one core, {what}: {rate:.1f} samples/s', flush=True)
    if args.compare:
        print(f'{args.config} / {args.compare}: {rates[0] / rates[1]:.2f}x '
              'samples/s on one core')
    if args.workers:
        cfg = load_config(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        rate, wait = loader_rate(cfg, data_root, args)
        line = (f'{args.config}: dataloader with {args.workers} workers: '
                f'{rate:.1f} samples/s')
        if args.train:
            line += f' while training, {wait:.0%} of the time waiting for data'
        print(line)


if __name__ == '__main__':
    main()
