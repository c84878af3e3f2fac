"""cim_mm.checkpoint.cli: the converters' shared steps (read, save) and
their exit policy."""
import argparse

import pytest
import torch

from cim_mm.checkpoint import UntrustedCheckpointError, read_checkpoint
from cim_mm.checkpoint.cli import (read_source, run_converter,
                                   save_converted)


def test_save_converted_makes_the_folder_and_says_how_to_use_it(
        tmp_path, capsys):
    dst = tmp_path / 'new' / 'out.pth'
    output = dict(state_dict={'w': torch.arange(3.)}, meta=dict(kind='x'))
    save_converted(output, str(dst), 'USAGE')
    assert capsys.readouterr().out == f'saved {dst}; use it with USAGE\n'
    saved = read_checkpoint(dst, runner_objects=False)
    assert torch.equal(saved['state_dict']['w'], output['state_dict']['w'])
    checkpoint, seconds = read_source(str(dst))
    assert checkpoint['meta'] == dict(kind='x') and seconds >= 0
    assert capsys.readouterr().out.startswith(f'[1/4] reading {dst} (')


def test_save_converted_refuses_objects_beyond_plain_weights(tmp_path):
    with pytest.raises(UntrustedCheckpointError):
        save_converted(dict(args=argparse.Namespace(a=1)),
                       str(tmp_path / 'o.pth'), 'USAGE')


def test_bad_input_is_exit_status_2_with_the_message(tmp_path, capsys):
    def convert(args):
        read_source(str(tmp_path / 'missing.pth'))

    assert run_converter(convert, None) == 2
    assert 'missing.pth' in capsys.readouterr().err
