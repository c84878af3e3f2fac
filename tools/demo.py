"""CIM pre-training demo on real photos that install offline (`make demo`).

1. writes the foolbox ImageNet photos and scikit-image photos to
   ``--data-root`` (train/ and 4 held-out val/ images);
2. pre-trains ``configs/cim_demo.py`` (a small ViT, a few hundred iterations
   on CPU) and saves the checkpoint in ``--work-dir``;
3. evaluates the held-out correlation-map IoU next to the IoU of predicting
   the whole context, and writes ``correlation_maps.png`` (context |
   exemplar | true map | predicted map) for the held-out images.

The held-out pairs are fixed by the config (``KeyedRepeatDataset``: several
keyed draws per held-out image; the val sampler's own seed), not by the
run's seed. ``--checkpoint`` scores a trained checkpoint instead of
training; ``--redraws N`` also scores it on N other draws of the held-out
pairs (val sampler seeds 1..N) and prints their mean, standard deviation
and range: how much the held-out figure depends on its draw.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.engine.hooks import train_until_stopped
from cim_mm.utils import write_demo_images
from cim_mm.visualization import draw_correlation_grid

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config', default=osp.join(REPO, 'configs', 'cim_demo.py'))
    parser.add_argument('--work-dir', default='work_dirs/cim_demo')
    parser.add_argument('--data-root', default='data/cim_demo')
    parser.add_argument(
        '--iters', type=int, default=None, help='override max_iters')
    parser.add_argument(
        '--checkpoint',
        help='score this checkpoint of the config instead of training')
    parser.add_argument(
        '--redraws', type=int, default=0,
        help='also score on this many other draws of the held-out pairs')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args()


def held_out_dataset(loader_cfg):
    """The image dataset config of a loader, under a KeyedRepeatDataset."""
    dataset = loader_cfg.dataset
    return dataset.dataset if dataset.type == 'KeyedRepeatDataset' else dataset


def score(runner, loader):
    """The val evaluator's metrics of the runner's model on ``loader``."""
    model, evaluator = runner.model, runner.val_loop.evaluator
    model.eval()
    with torch.no_grad():
        for batch in loader:
            evaluator.process(model.val_step(batch), batch)
    return evaluator.evaluate(len(loader.dataset))


def describe(metrics):
    return (f'{metrics["corr/iou"]:.1f}% (predicting the whole context: '
            f'{metrics["corr/whole_context_iou"]:.1f}%; the same predictions '
            f'scored on another exemplar\'s map: '
            f'{metrics["corr/wrong_exemplar_iou"]:.1f}%)')


def redraw_spread(runner, loader_cfg, redraws):
    """Score on ``redraws`` other draws of the held-out pairs (the val
    sampler's seed 1..redraws) and print each and their spread."""
    ious = []
    for seed in range(1, redraws + 1):
        cfg = copy.deepcopy(loader_cfg)
        cfg.sampler.seed = seed
        metrics = score(runner, runner.build_dataloader(cfg))
        ious.append(metrics['corr/iou'])
        print(f'held-out draw {seed}: {describe(metrics)}')
    std = statistics.stdev(ious) if len(ious) > 1 else 0.0
    print(f'{redraws} other draws of the held-out pairs: IoU mean '
          f'{statistics.mean(ious):.2f}%, standard deviation {std:.2f}, '
          f'range {min(ious):.1f}-{max(ious):.1f}%')


def main():
    args = parse_args()
    num_train, num_val = write_demo_images(args.data_root)
    print(f'demo photos: {num_train} train, {num_val} held-out in '
          f'{args.data_root}')

    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    cfg.train_dataloader.dataset.data_root = args.data_root
    for loader in ('val_dataloader', 'test_dataloader'):
        held_out_dataset(cfg[loader]).data_root = args.data_root
    if args.iters is not None:
        cfg.train_cfg.max_iters = args.iters
        cfg.default_hooks.checkpoint.interval = args.iters
        warmup, cosine = cfg.param_scheduler
        warmup.end = max(1, min(warmup.end, args.iters // 10))
        cosine.begin, cosine.end = warmup.end, args.iters
        cosine.T_max = max(args.iters - warmup.end, 1)
    # Evaluate once, after training, below (the training loop would also
    # validate at its last iteration: the same figures logged twice).
    cfg.train_cfg.val_interval = cfg.train_cfg.max_iters + 1
    cfg.train_cfg.val_begin = cfg.train_cfg.max_iters + 1
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)

    if args.checkpoint:
        cfg.load_from = args.checkpoint
    # the config's runner_type (CIMRunner: the shipped runtime's)
    runner = (RUNNERS.build(cfg)
              if 'runner_type' in cfg else Runner.from_cfg(cfg))
    if not args.checkpoint:
        status = train_until_stopped(runner)
        if status:  # stopped by SIGTERM/SIGUSR1, after saving a checkpoint
            sys.exit(status)
    metrics = runner.val()

    model = runner.model
    model.eval()
    dataset = runner.val_dataloader.dataset
    # The first draw of each held-out image, as evaluated (the val sampler's
    # keys seed the draws).
    keys = list(runner.val_dataloader.sampler)
    inner = getattr(dataset, 'dataset', dataset)
    batch = default_collate([dataset[key] for key in keys[:len(inner)]])
    with torch.no_grad():
        pairs = model.data_preprocessor.build_pairs(dict(batch))
        predictions = model.val_step(batch)
    out_file = osp.join(cfg.work_dir, 'correlation_maps.png')
    draw_correlation_grid(pairs['inputs'], predictions, out_file)

    ckpt = args.checkpoint or osp.join(
        cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    print(f'checkpoint: {ckpt}')
    print(f'picture:    {out_file}')
    num_maps = len(dataset) * predictions[0].corr_maps.shape[0]
    print(f'held-out correlation-map IoU: {describe(metrics)} '
          f'[{len(dataset)} pairs of {len(inner)} photos, {num_maps} maps]')
    if args.redraws > 0:
        redraw_spread(runner, cfg.val_dataloader, args.redraws)


if __name__ == '__main__':
    main()
