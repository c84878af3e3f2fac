"""Measure how many CIM samples per second one CPU core produces.

A sample is what the pre-training pipeline hands to the collate function:
one context, six exemplars, their correlation maps and the default exemplar
augmentation (``CorrelationalCrop()`` + ``PackCIMInputs()``). Prints the rate
with and without the JPEG decode (``LoadImageFromFile``).

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
from mmpretrain.registry import TRANSFORMS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--num-samples', type=int, default=300, help='samples per timing')
    parser.add_argument(
        '--image',
        help='photo to decode and crop (default: scikit-image\'s 600x400 '
        '"coffee" saved as a quality-90 JPEG, an ImageNet-like file)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def default_image(folder):
    import skimage.data
    path = osp.join(folder, 'coffee.jpg')
    cv2.imwrite(path,
                skimage.data.coffee()[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def samples_per_second(pipeline, make_input, num_samples):
    for _ in range(5):  # warm-up
        pipeline(make_input())
    start = time.perf_counter()
    for _ in range(num_samples):
        pipeline(make_input())
    return num_samples / (time.perf_counter() - start)


def main():
    args = parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    np.random.seed(args.seed)
    random.seed(args.seed)

    crop = TRANSFORMS.build(dict(type='CorrelationalCrop'))
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))

    with tempfile.TemporaryDirectory() as folder:
        path = args.image or default_image(folder)
        decoded = load(dict(img_path=path))
        print(f'image: {path} ({decoded["img"].shape[1]} x '
              f'{decoded["img"].shape[0]}), {args.num_samples} samples, '
              f'1 thread (OMP_NUM_THREADS='
              f'{os.environ.get("OMP_NUM_THREADS", "unset")})')
        rows = [
            ('CorrelationalCrop', crop, lambda: dict(decoded)),
            ('CorrelationalCrop + PackCIMInputs', Compose([crop, pack]),
             lambda: dict(decoded)),
            ('LoadImageFromFile + CorrelationalCrop + PackCIMInputs',
             Compose([load, crop, pack]), lambda: dict(img_path=path)),
        ]
        for name, pipeline, make_input in rows:
            rate = samples_per_second(pipeline, make_input, args.num_samples)
            print(f'{name:<55s} {rate:7.1f} samples/s '
                  f'({1000 / rate:5.2f} ms/sample)')


if __name__ == '__main__':
    main()
