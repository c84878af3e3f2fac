"""CIM pre-training demo on real photos that install offline (`make demo`).

1. writes the foolbox ImageNet photos and scikit-image photos to
   ``--data-root`` (train/ and 4 held-out val/ images);
2. pre-trains ``configs/cim_demo.py`` (a small ViT, a few hundred iterations
   on CPU) and saves the checkpoint in ``--work-dir``;
3. evaluates the held-out correlation-map IoU next to the IoU of predicting
   the whole context, and writes ``correlation_maps.png`` (context |
   exemplar | true map | predicted map) for the held-out images.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
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
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args()


def main():
    args = parse_args()
    num_train, num_val = write_demo_images(args.data_root)
    print(f'demo photos: {num_train} train, {num_val} held-out in '
          f'{args.data_root}')

    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data_root
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

    runner = Runner.from_cfg(cfg)
    status = train_until_stopped(runner)
    if status:  # stopped by SIGTERM/SIGUSR1, after saving a checkpoint
        sys.exit(status)
    metrics = runner.val()

    model = runner.model
    model.eval()
    dataset = runner.val_dataloader.dataset
    # The evaluated pairs: the val sampler's keys seed their draws.
    batch = default_collate(
        [dataset[key] for key in runner.val_dataloader.sampler])
    with torch.no_grad():
        pairs = model.data_preprocessor.build_pairs(dict(batch))
        predictions = model.val_step(batch)
    out_file = osp.join(cfg.work_dir, 'correlation_maps.png')
    draw_correlation_grid(pairs['inputs'], predictions, out_file)

    ckpt = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    print(f'checkpoint: {ckpt}')
    print(f'picture:    {out_file}')
    print(f'held-out correlation-map IoU: {metrics["corr/iou"]:.1f}% '
          f'(predicting the whole context: '
          f'{metrics["corr/whole_context_iou"]:.1f}%; the same predictions '
          f'scored on another exemplar\'s map: '
          f'{metrics["corr/wrong_exemplar_iou"]:.1f}%)')


if __name__ == '__main__':
    main()
