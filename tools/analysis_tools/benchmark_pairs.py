"""Measure how many CIM pairs per second one CPU core produces.

Three rates: the worker's draws (``DrawCorrelationalPair()`` +
``PackCIMInputs()``: search image and parameters, what a GPU machine's
worker does), the same with the JPEG decode (``LoadImageFromFile``), and the
whole pair on this core (decode, draws, then the pixels and maps built by
``pair_synthesis_collate`` in batches of ``--batch-size``: what a worker
does on a machine without a GPU), with the release's augmentation.

Everything runs on one thread; set the OpenMP variable too, since it must be
set before numpy and torch start::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_pairs.py
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_pairs.py \\
        --image path/to/photo.JPEG --num-samples 1000
"""
import argparse
import os
import os.path as osp
import random
import tempfile
import time

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.datasets import pair_synthesis_collate
from mmpretrain.registry import TRANSFORMS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--num-samples', type=int, default=300, help='samples per timing')
    parser.add_argument(
        '--image',
        help='photo to decode and crop (default: scikit-image\'s 600x400 '
        '"coffee" saved as a quality-90 JPEG, an ImageNet-like file)')
    parser.add_argument('--batch-size', type=int, default=16,
                        help='batch of the whole-pair rate')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def default_image(folder):
    import skimage.data
    path = osp.join(folder, 'coffee.jpg')
    cv2.imwrite(path,
                skimage.data.coffee()[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def samples_per_second(pipeline, make_input, num_samples, batch=1,
                       collate=None):
    """Samples/s of ``pipeline(make_input())``, with ``collate`` on each
    ``batch`` of samples when given (``num_samples`` rounded up to whole
    batches)."""
    batches = -(-num_samples // batch)

    def run(count):
        for _ in range(count):
            samples = [pipeline(make_input()) for _ in range(batch)]
            if collate is not None:
                collate(samples)

    run(max(1, 5 // batch))  # warm-up
    start = time.perf_counter()
    run(batches)
    return batches * batch / (time.perf_counter() - start)


def main():
    args = parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    np.random.seed(args.seed)
    random.seed(args.seed)

    draw = TRANSFORMS.build(dict(type='DrawCorrelationalPair'))
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))

    with tempfile.TemporaryDirectory() as folder:
        path = args.image or default_image(folder)
        decoded = load(dict(img_path=path))
        print(f'image: {path} ({decoded["img"].shape[1]} x '
              f'{decoded["img"].shape[0]}), {args.num_samples} samples, '
              f'1 thread (OMP_NUM_THREADS='
              f'{os.environ.get("OMP_NUM_THREADS", "unset")})')
        loaded = Compose([load, draw, pack])
        rows = [
            ('DrawCorrelationalPair + PackCIMInputs', Compose([draw, pack]),
             lambda: dict(decoded), {}),
            ('LoadImageFromFile + DrawCorrelationalPair + PackCIMInputs',
             loaded, lambda: dict(img_path=path), {}),
            (f'the same + pair_synthesis_collate (batches of '
             f'{args.batch_size})', loaded, lambda: dict(img_path=path),
             dict(batch=args.batch_size, collate=pair_synthesis_collate)),
        ]
        for name, pipeline, make_input, batching in rows:
            rate = samples_per_second(pipeline, make_input, args.num_samples,
                                      **batching)
            print(f'{name:<62s} {rate:7.1f} samples/s '
                  f'({1000 / rate:5.2f} ms/sample)')


if __name__ == '__main__':
    main()
