"""Time the pair synthesis of one batch on a device.

A batch is drawn from the offline photos by ``DrawCorrelationalPair`` with
the release's recipe (the shipped ViT-B sizes by default), collated, and
built by :func:`cim_mm.models.utils.pair_synthesis.synthesise_batch` on
``--device`` with ``--threads`` torch threads; the median over
``--repeats`` runs is printed in ms per batch and per pair.

Example::

    python tools/analysis_tools/benchmark_pair_synthesis.py --batch-size 64
    python tools/analysis_tools/benchmark_pair_synthesis.py --device cuda \
        --batch-size 512
"""
import argparse
import statistics
import time

import numpy as np
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import TRANSFORMS

import cim_mm.compat.enable  # noqa: F401
from cim_mm.datasets.transforms.formatting import PAIR_PARAMS
from cim_mm.models.utils.pair_synthesis import synthesise_batch
from cim_mm.utils.offline_photos import available_photos

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--context-size', type=int, default=160)
    parser.add_argument('--exemplar-size', type=int, default=64)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def collated_batch(photos, args):
    """A collated batch of ``args.batch_size`` drawn pairs (search images and
    parameters), on ``args.device``."""
    transform = TRANSFORMS.build(dict(type='DrawCorrelationalPair',
                                      context_size=args.context_size,
                                      exemplar_size=args.exemplar_size))
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    samples = []
    for index in range(args.batch_size):
        np.random.seed(args.seed + index)
        samples.append(pack(transform({'img': photos[index % len(photos)]})))
    batch = default_collate(samples)
    params = batch.pop(PAIR_PARAMS)
    batch['inputs'] = [x.to(args.device) for x in batch['inputs']]
    params = {key: value.to(args.device) for key, value in params.items()}
    return batch, params


def time_once(batch, params, device) -> float:
    """Seconds for one synthesis of the batch (device work included)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    synthesise_batch(dict(batch), params)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    batch, params = collated_batch(available_photos(), args)
    time_once(batch, params, args.device)  # warm-up
    ms = statistics.median(
        time_once(batch, params, args.device)
        for _ in range(args.repeats)) * 1000
    print(f'pair synthesis: {ms:.1f} ms per batch of {args.batch_size} pairs '
          f'({ms / args.batch_size:.2f} ms per pair; {args.context_size} px '
          f'contexts, 6 x {args.exemplar_size} px exemplars) on '
          f'{args.device}, {args.threads} thread(s)')
    return ms


if __name__ == '__main__':
    main()
