"""Evaluate a checkpoint on the config's test set (mmpretrain's CLI).

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    bash tools/dist_test.sh CONFIG CHECKPOINT 8 --out-item metrics --out m.json
"""
import argparse

import mmengine
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.compat import shutdown_distributed
from cim_mm.utils.runner_cli import (add_runner_args, build_runner,
                                     merge_runner_args, parse_runner_args,
                                     set_pin_memory)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
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
    add_runner_args(parser, 'directory for the logs and metrics')
    return parse_runner_args(parser, argv)


def merge_test_args(cfg, args):
    """The test options: the checkpoint (loaded, not resumed) and the test
    dataloader's pin_memory."""
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if cfg.get('test_dataloader') is None:
        raise ValueError(f'{args.config} has no test_dataloader to test on')
    set_pin_memory(cfg.test_dataloader, args.no_pin_memory)


def merge_args(cfg, args):
    """Apply the command-line options to the config."""
    return merge_runner_args(cfg, args, merge_test_args)


def run_test(cfg, args):
    """Build the runner, test, return the metrics (the runner is dropped
    on return)."""
    runner = build_runner(cfg)
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
