"""The command line that ``tools/train.py`` and ``tools/test.py`` share:
config path, work directory, config overrides, launcher, and the Runner
built from the final config.

A tool makes its parser, adds its own options and :func:`add_runner_args`,
parses with :func:`parse_runner_args`, and turns the options into config
entries with :func:`merge_runner_args`.
"""
import argparse
import os
import os.path as osp
from typing import Callable, List, Optional

from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

__all__ = [
    'add_runner_args', 'parse_runner_args', 'default_work_dir',
    'merge_runner_args', 'set_pin_memory', 'build_runner'
]

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_runner_args(parser: argparse.ArgumentParser,
                    work_dir_help: str) -> None:
    """Add ``--work-dir`` (described by ``work_dir_help``, then its
    default), ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument(
        '--work-dir',
        help=f'{work_dir_help} (default: the config\'s work_dir, else '
        './work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (nested keys with dots; '
        'lists as key="[a,b]"); applied after the other options')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (--local_rank before 2.0).
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[List[str]] = None) -> argparse.Namespace:
    """``parser.parse_args(argv)`` (``sys.argv[1:]`` when None); sets
    ``LOCAL_RANK`` from ``--local-rank`` unless the launcher set it."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def default_work_dir(config_path: str) -> str:
    """``./work_dirs/<config file name without extension>``."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def merge_runner_args(cfg: Config, args: argparse.Namespace,
                      merge_tool_args: Callable[[Config, argparse.Namespace],
                                                None]) -> Config:
    """Apply the options to ``cfg`` in place and return it: the launcher,
    the work directory (``--work-dir``, else the config's, else
    :func:`default_work_dir`), the tool's own options
    (``merge_tool_args(cfg, args)``), then ``--cfg-options``, last."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    merge_tool_args(cfg, args)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def set_pin_memory(loader: dict, disabled: bool) -> None:
    """A dataloader config's ``pin_memory``: kept where the config sets it,
    else on with an accelerator (pinned memory only helps host-to-device
    copies); always off when ``disabled`` (``--no-pin-memory``)."""
    loader.setdefault('pin_memory', get_device() != 'cpu' and not disabled)
    if disabled:
        loader['pin_memory'] = False


def build_runner(cfg: Config) -> Runner:
    """``Runner.from_cfg(cfg)``, or the registered ``runner_type`` if the
    config names one."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
