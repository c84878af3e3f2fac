"""Evaluate a checkpoint on the config's test set (mmpretrain's CLI).

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    bash tools/dist_test.sh CONFIG CHECKPOINT 8 --out-item metrics --out m.json
"""
import argparse
import os
import os.path as osp

import mmengine
from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.compat import shutdown_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='directory for the logs and metrics '
        '(default: the config\'s work_dir, else ./work_dirs/<config name>)')
    parser.add_argument(
        '--out', help='file to dump the predictions (or the metrics) to')
    parser.add_argument(
        '--out-item',
        choices=['pred', 'metrics'],
        default='pred',
        help='what --out receives (default: pred)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='set pin_memory=False in the test dataloader')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (nested keys with dots; '
        'lists as key="[a,b]"); applied after the other options')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (--local_rank before 2.0).
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    """Apply the command-line options to the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs',
            osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False

    if cfg.get('test_dataloader') is None:
        raise ValueError(f'{args.config} has no test_dataloader to test on')
    # Pinned memory only helps host-to-accelerator copies.
    cfg.test_dataloader.setdefault(
        'pin_memory', get_device() != 'cpu' and not args.no_pin_memory)
    if args.no_pin_memory:
        cfg.test_dataloader.pin_memory = False

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def run_test(cfg, args):
    """Build the runner, test, return the metrics (the runner is dropped
    on return)."""
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)

    if args.out is not None and args.out_item == 'pred':
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    return runner.test()


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    metrics = run_test(cfg, args)
    # Every rank holds the same metrics; one writes them.
    if (args.out is not None and args.out_item == 'metrics'
            and is_main_process()):
        mmengine.dump(metrics, args.out)
    # Tear the process groups down before the interpreter exits (see
    # cim_mm.compat.shutdown_distributed).
    shutdown_distributed()


if __name__ == '__main__':
    main()
