"""Evaluate a fine-tuned classifier on the robustness benchmarks (Table 8).

FGSM and PGD (white-box L-inf attacks on the ImageNet-1K val images, on the
pixel values before the data preprocessor's normalisation), ImageNet-C
(mCE normalised by AlexNet), ImageNet-A and -R (logits restricted to the
classes present) and ImageNet-Sketch; prints Table 8's row and writes every
figure to a JSON file. Nothing is downloaded: the datasets are local folders.

Folders (``--data-root DIR`` with these sub-folders, or one option each)::

    DIR/imagenet/val/<wnid>/*.JPEG                      --imagenet
    DIR/imagenet-c/<corruption>/<1-5>/<wnid>/*.JPEG     --imagenet-c
    DIR/imagenet-a/<wnid>/*.jpg                         --imagenet-a
    DIR/imagenet-r/<wnid>/*.jpg                         --imagenet-r
    DIR/imagenet-sketch/<wnid>/*.JPEG                   --imagenet-sketch

Examples::

    python tools/analysis_tools/eval_robustness.py \\
        configs/finetune/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py \\
        work_dirs/<fine-tuning run>/epoch_100.pth \\
        --data-root data --benchmarks fgsm pgd imagenet-a
    torchrun --standalone --nproc_per_node 8 \\
        tools/analysis_tools/eval_robustness.py CONFIG CHECKPOINT \\
        --launcher pytorch --data-root data
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.dist import get_world_size, is_main_process
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.compat import shutdown_distributed
from cim_mm.engine.runners.cim_runner import init_distributed
from cim_mm.evaluation.robustness import (BENCHMARKS, DEFAULT_SUBFOLDERS,
                                          AttackProtocol, dataset_folders,
                                          evaluate_robustness, format_table,
                                          table_row)

PROTOCOL = AttackProtocol()
RVT = ('RVT\'s protocol ("Towards Robust Vision Transformer", Mao et al., '
       'CVPR 2022; alibaba/easyrobust RVT/engine.py evaluate(): FGSM '
       'attack_epsilon = attack_alpha = 1/255, 1 iteration, no random init; '
       'PGD attack_epsilon 1/255, attack_alpha 0.5/255, 5 iterations, random '
       'init), which Table 8\'s Scratch rows report')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a classifier on the robustness benchmarks of '
        'Table 8 (FGSM, PGD, ImageNet-C/A/R/Sketch). Attack budgets are in '
        'units of 1/255 of the pixel range; the defaults are ' + RVT + '.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file of the classifier')
    parser.add_argument('checkpoint', help='its fine-tuned checkpoint')
    parser.add_argument(
        '--benchmarks', nargs='+', choices=BENCHMARKS,
        default=list(BENCHMARKS), help='what to evaluate (default: all six)')
    parser.add_argument(
        '--data-root', default='data',
        help='folder holding ' + ', '.join(
            f'{sub}/' for sub in DEFAULT_SUBFOLDERS.values()) +
        ' (default: data)')
    for name, sub in DEFAULT_SUBFOLDERS.items():
        what = 'ImageNet-1K val' if name == 'imagenet' else name
        parser.add_argument(
            f'--{name}', metavar='DIR',
            help=f'the {what} folder (default: DATA_ROOT/{sub})')
    parser.add_argument(
        '--imagenet-ann-file', metavar='FILE',
        help='mmpretrain annotation file of the ImageNet val images ("<path> '
        '<class index>" lines, paths relative to --imagenet); without it '
        'the images are read from <wnid> class folders')
    parser.add_argument(
        '--fgsm-epsilon', type=float, metavar='X',
        default=PROTOCOL.fgsm_epsilon,
        help='FGSM L-inf budget, x/255 (default: %(default)s)')
    parser.add_argument(
        '--pgd-epsilon', type=float, metavar='X',
        default=PROTOCOL.pgd_epsilon,
        help='PGD L-inf budget, x/255 (default: %(default)s)')
    parser.add_argument(
        '--pgd-step-size', type=float, metavar='X',
        default=PROTOCOL.pgd_step_size,
        help='PGD step size, x/255 (default: %(default)s)')
    parser.add_argument(
        '--pgd-steps', type=int, metavar='N', default=PROTOCOL.pgd_steps,
        help='PGD steps (default: %(default)s)')
    parser.add_argument(
        '--no-pgd-random-start', action='store_true',
        help='start PGD at the clean image (default: uniform in the ball)')
    parser.add_argument(
        '--pixel-max', type=float, default=PROTOCOL.pixel_max,
        help='the loaded images\' range is [0, PIXEL_MAX] (default: 255, '
        'mmpretrain\'s pipelines)')
    parser.add_argument(
        '--seed', type=int, default=PROTOCOL.seed,
        help='seed of PGD\'s random starts (default: %(default)s)')
    parser.add_argument(
        '--batch-size', type=int,
        help='images per batch and process (default: the config\'s '
        'test_dataloader.batch_size)')
    parser.add_argument(
        '--num-workers', type=int,
        help='data loader workers per process (default: the config\'s '
        'test_dataloader.num_workers)')
    parser.add_argument(
        '--work-dir',
        help='default folder of --out (default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--out', help='JSON file of every figure (default: '
        'WORK_DIR/robustness.json)')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bars')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (nested keys with dots)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (--local_rank before 2.0).
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def config_test_pipeline(cfg):
    """The config's test pipeline."""
    loader = cfg.get('test_dataloader') or {}
    pipeline = (loader.get('dataset') or {}).get('pipeline') or cfg.get(
        'test_pipeline')
    if not pipeline:
        raise ValueError('The config has neither test_dataloader.dataset.'
                         'pipeline nor test_pipeline; the images need it.')
    return [dict(step) for step in pipeline]


def build_classifier(cfg, checkpoint, device):
    """The config's model with the checkpoint's weights (strict), in eval
    mode on ``device``; read through mmengine's ``load_checkpoint``."""
    model_cfg = cfg.model.copy()
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(model_cfg)
    # Every weight comes from the checkpoint: no init_weights() (a
    # pre-trained init_cfg would read the pre-training checkpoint).
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.to(device).eval()


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher != 'none':
        init_distributed(args.launcher)  # gloo without a GPU
    device = get_device()
    if device == 'cuda':
        device = torch.device('cuda', torch.cuda.current_device())
    loader = cfg.get('test_dataloader') or {}
    protocol = AttackProtocol(
        fgsm_epsilon=args.fgsm_epsilon, pgd_epsilon=args.pgd_epsilon,
        pgd_step_size=args.pgd_step_size, pgd_steps=args.pgd_steps,
        pgd_random_start=not args.no_pgd_random_start,
        pixel_max=args.pixel_max, seed=args.seed)
    folders = dataset_folders(
        args.data_root, **{
            name.replace('-', '_'): getattr(args, name.replace('-', '_'))
            for name in DEFAULT_SUBFOLDERS
        })

    model = build_classifier(cfg, args.checkpoint, device)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        results = evaluate_robustness(
            model, config_test_pipeline(cfg), folders,
            benchmarks=args.benchmarks, protocol=protocol,
            imagenet_ann_file=args.imagenet_ann_file,
            batch_size=args.batch_size or loader.get('batch_size', 32),
            num_workers=(args.num_workers if args.num_workers is not None
                         else loader.get('num_workers', 4)),
            progress=not args.no_progress)

    if is_main_process():
        work_dir = args.work_dir or osp.join(
            'work_dirs', osp.splitext(osp.basename(args.config))[0])
        out = args.out or osp.join(work_dir, 'robustness.json')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(
                dict(config=args.config, checkpoint=args.checkpoint,
                     world_size=get_world_size(), folders={
                         name: folders[name] for name in folders
                     }, row=table_row(results), results=results), f,
                indent=2)
        print(format_table(results))
        print(f'\nAll figures (%): {out}')
    shutdown_distributed()
    return results


if __name__ == '__main__':
    main()
