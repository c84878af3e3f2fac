"""Train a model from an mmengine config (mmpretrain's ``tools/train.py`` CLI).

Examples::

    python tools/train.py configs/cim_vitb_300e.py
    bash tools/dist_train.sh configs/cim_vitb_300e.py 8
    python tools/train.py CONFIG --resume                 # latest in work_dir
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=10

Exit status: 0 when training is complete; 128 + the signal number (143 for
SIGTERM, 138 for SIGUSR1) when ``StopOnSignalHook`` stopped it on a signal
after saving a checkpoint (``--resume`` continues it).
"""
import argparse
import logging
import sys

import torch
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.logging import print_log

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.compat import shutdown_distributed
from cim_mm.engine.hooks import train_until_stopped
from cim_mm.utils.runner_cli import (add_runner_args, build_runner,
                                     merge_runner_args, parse_runner_args,
                                     set_pin_memory)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint; without a value, from the latest '
        'checkpoint in the work directory')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision for a config without it: AmpOptimWrapper '
        '(fp16, dynamic loss scale) on GPU, bf16 autocast '
        '(CPUAmpOptimWrapper) on a machine without GPU')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not validate during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        'auto_scale_lr.base_batch_size of the config')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='set pin_memory=False in all dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='set persistent_workers=False in all dataloaders')
    add_runner_args(parser, 'directory for logs and checkpoints')
    return parse_runner_args(parser, argv)


# Optimizer wrappers that already train in mixed precision.
MIXED_PRECISION = {'AmpOptimWrapper': 'fp16', 'BF16OptimWrapper': 'bf16'}


def enable_amp(cfg):
    """``--amp``: mixed precision on this machine. A config that already
    uses it (fp16 ``AmpOptimWrapper`` or ``BF16OptimWrapper``) keeps its
    choice on a GPU; others get fp16 AMP there, and bf16 autocast on CPU."""
    if get_device() != 'cpu':
        if cfg.optim_wrapper.get('type') not in MIXED_PRECISION:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        return
    print_log(
        'No GPU available: --amp uses bf16 autocast on CPU '
        '(CPUAmpOptimWrapper, no loss scaling). It is faster only on CPUs '
        'with bf16 units (AMX / AVX512-BF16); elsewhere it is slower than '
        'fp32 (docs/benchmarks.md, "The training step").',
        logger='current',
        level=logging.WARNING)
    cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.pop('dtype', None)


def amp_config_on_cpu(cfg):
    """A config's GPU mixed precision (``AmpOptimWrapper`` refuses to start
    without a GPU; bf16 is slower than fp32 on most CPUs) runs in fp32 on
    CPU; ``--amp`` asks for bf16."""
    kind = cfg.optim_wrapper.type
    print_log(
        f'No GPU available: the config\'s {kind} '
        f'({MIXED_PRECISION[kind]}) is replaced by OptimWrapper (fp32); '
        'pass --amp for bf16 autocast on CPU.',
        logger='current',
        level=logging.WARNING)
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.pop('dtype', None)


def bf16_config_without_bf16(cfg):
    """``BF16OptimWrapper`` on a GPU without bf16 (before Ampere): fp16
    ``AmpOptimWrapper`` with a dynamic loss scale instead."""
    print_log(
        'This GPU has no bf16 support: the config\'s BF16OptimWrapper is '
        'replaced by AmpOptimWrapper (fp16, dynamic loss scale).',
        logger='current',
        level=logging.WARNING)
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def adapt_precision(cfg):
    """Make the config's precision one this machine runs (checked on the
    final config, after ``--amp`` and ``--cfg-options``)."""
    kind = cfg.optim_wrapper.get('type')
    device = get_device()
    if kind in MIXED_PRECISION and device == 'cpu':
        amp_config_on_cpu(cfg)
    elif (kind == 'BF16OptimWrapper' and device == 'cuda'
          and not torch.cuda.is_bf16_supported()):
        bf16_config_without_bf16(cfg)


def set_dataloader_defaults(cfg, args):
    """pin_memory/persistent_workers defaults, unless disabled by a flag."""
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        set_pin_memory(loader, args.no_pin_memory)
        # DataLoader rejects persistent_workers without worker processes.
        persistent = (not args.no_persistent_workers
                      and loader.get('num_workers', 0) > 0)
        loader.setdefault('persistent_workers', persistent)
        if args.no_persistent_workers:
            loader.persistent_workers = False


def merge_train_args(cfg, args):
    """The training options: validation, ``--amp``, ``--resume``,
    ``--auto-scale-lr`` and the dataloader defaults."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        enable_amp(cfg)

    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError(
                '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size='
                '...)` in the config')
        cfg.auto_scale_lr.enable = True

    set_dataloader_defaults(cfg, args)


def merge_args(cfg, args):
    """Apply the command-line options to the config, then make its
    precision one this machine runs."""
    merge_runner_args(cfg, args, merge_train_args)
    adapt_precision(cfg)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    status = train_until_stopped(build_runner(cfg))
    # The runner is unreferenced now: tear the process groups down before
    # the interpreter exits (see cim_mm.compat.shutdown_distributed).
    shutdown_distributed()
    if status:
        sys.exit(status)


if __name__ == '__main__':
    main()
