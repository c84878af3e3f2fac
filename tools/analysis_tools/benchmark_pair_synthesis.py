"""Time the batched pair synthesis of one batch: the OpenCV-exact device
path (``CorrelationalPairParams``) against the one batched implementation
(``DrawCorrelationalPair``, torchvision's definitions).

Both batches are drawn from the offline photos with the release's recipe
(the shipped ViT-B sizes by default), collated, and built by
:func:`cim_mm.models.utils.pair_synthesis.synthesise_batch` on ``--device``
with ``--threads`` torch threads; the two are timed alternately, and the
median over ``--repeats`` runs of each is printed, in ms per batch, with
the ratio.

Example::

    python tools/analysis_tools/benchmark_pair_synthesis.py --batch-size 64
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
from cim_mm.models.data_preprocessors.cim_data_preprocessor import \
    CIMDataPreprocessor
from cim_mm.models.utils.pair_synthesis import synthesise_batch
from cim_mm.utils.offline_photos import available_photos

TRANSFORMS_TIMED = {
    'opencv-exact': dict(type='CorrelationalPairParams', pixels='device'),
    'batched': dict(type='DrawCorrelationalPair'),
}


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


def collated_batch(transform_cfg, photos, args):
    """A collated batch of ``args.batch_size`` drawn pairs (search images and
    parameters), on ``args.device``; with the host's blur reach when the
    transform needs it."""
    transform = TRANSFORMS.build(dict(transform_cfg,
                                      context_size=args.context_size,
                                      exemplar_size=args.exemplar_size))
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    samples = []
    for index in range(args.batch_size):
        np.random.seed(args.seed + index)
        samples.append(pack(transform({'img': photos[index % len(photos)]})))
    batch = default_collate(samples)
    params = batch.pop(PAIR_PARAMS)
    reach = CIMDataPreprocessor._blur_reach(params)
    batch['inputs'] = [x.to(args.device) for x in batch['inputs']]
    params = {key: value.to(args.device) for key, value in params.items()}
    return batch, params, reach


def time_once(batch, params, reach, device) -> float:
    """Seconds for one synthesis of the batch (device work included)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    synthesise_batch(dict(batch), params, reach)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    photos = available_photos()
    batches = {name: collated_batch(cfg, photos, args)
               for name, cfg in TRANSFORMS_TIMED.items()}
    runs = {name: [] for name in batches}
    for name, batch in batches.items():  # warm-up
        time_once(*batch, args.device)
    for _ in range(args.repeats):
        for name, batch in batches.items():
            runs[name].append(time_once(*batch, args.device))
    medians = {name: statistics.median(r) * 1000 for name, r in runs.items()}
    for name, ms in medians.items():
        print(f'{name}: {ms:.1f} ms per batch of {args.batch_size} pairs '
              f'({args.context_size} px contexts, 6 x {args.exemplar_size} '
              f'px exemplars) on {args.device}, {args.threads} thread(s)')
    print(f"batched / opencv-exact: "
          f"{medians['batched'] / medians['opencv-exact']:.2f}x the time")
    return medians


if __name__ == '__main__':
    main()
