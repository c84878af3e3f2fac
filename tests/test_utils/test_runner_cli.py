"""cim_mm.utils.runner_cli: the command line tools/train.py and
tools/test.py share (their own options: test_tools/)."""
import argparse
import os

import pytest
from mmengine.config import Config

from cim_mm.utils import runner_cli
from cim_mm.utils.runner_cli import (add_runner_args, default_work_dir,
                                     merge_runner_args, parse_runner_args,
                                     set_pin_memory)


def parse(argv, monkeypatch):
    # recorded first, so that the LOCAL_RANK parsing sets is undone after
    monkeypatch.setenv('LOCAL_RANK', '')
    monkeypatch.delenv('LOCAL_RANK')
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    add_runner_args(parser, 'logs')
    return parse_runner_args(parser, argv)


def test_options_become_config_entries_overrides_last(monkeypatch):
    args = parse(['configs/a/my_cfg.py', '--launcher', 'pytorch',
                  '--local_rank', '3', '--cfg-options', 'x=2', 'y.z=[1,2]'],
                 monkeypatch)
    assert os.environ['LOCAL_RANK'] == '3'
    seen = []

    def merge_tool_args(cfg, args):
        seen.append(cfg.x)
        cfg.x = 1

    cfg = merge_runner_args(Config(dict(x=0)), args, merge_tool_args)
    assert seen == [0] and cfg.x == 2 and cfg.y.z == [1, 2]
    assert cfg.launcher == 'pytorch'
    assert cfg.work_dir == default_work_dir('my_cfg.py') == \
        './work_dirs/my_cfg'


@pytest.mark.parametrize('argv, config_dir, expected', [
    (['--work-dir', 'given'], 'in_config', 'given'),
    ([], 'in_config', 'in_config'),
])
def test_work_dir_given_then_the_configs(argv, config_dir, expected,
                                         monkeypatch):
    args = parse(['c.py', *argv], monkeypatch)
    cfg = merge_runner_args(Config(dict(work_dir=config_dir)), args,
                            lambda cfg, args: None)
    assert cfg.work_dir == expected


@pytest.mark.parametrize('device, default', [('cpu', False),
                                             ('cuda', True)])
def test_pin_memory_kept_from_the_config_unless_disabled(
        device, default, monkeypatch):
    monkeypatch.setattr(runner_cli, 'get_device', lambda: device)
    loader = Config(dict(loader=dict(pin_memory=True))).loader
    set_pin_memory(loader, disabled=False)
    assert loader.pin_memory is True
    set_pin_memory(loader, disabled=True)
    assert loader.pin_memory is False
    fresh = Config(dict(loader=dict())).loader
    set_pin_memory(fresh, disabled=False)
    assert fresh.pin_memory is default
    fresh = Config(dict(loader=dict())).loader
    set_pin_memory(fresh, disabled=True)
    assert fresh.pin_memory is False
