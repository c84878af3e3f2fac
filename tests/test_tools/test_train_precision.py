"""tools/train.py picks a precision the machine runs: the config's bf16 or
fp16 mixed precision on a GPU (fp16 where bf16 is missing), fp32 on CPU
unless --amp."""
import importlib.util
import logging
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN = ROOT / 'configs' / 'cim_vitb_300e.py'


@pytest.fixture(scope='module')
def train_tool():
    spec = importlib.util.spec_from_file_location(
        'cim_train_tool', ROOT / 'tools' / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def log_lines(tmp_path):
    """What print_log(logger='current') writes during the test."""
    logger = MMLogger.get_instance(f'{tmp_path.name}_log', log_level='INFO')
    lines = []

    class Collect(logging.Handler):

        def emit(self, record):
            lines.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def final_wrapper(train_tool, monkeypatch, device, argv=(), bf16=True):
    monkeypatch.setattr(train_tool, 'get_device', lambda: device)
    monkeypatch.setattr(train_tool.torch.cuda, 'is_bf16_supported',
                        lambda *args, **kwargs: bf16)
    args = train_tool.parse_args([str(PRETRAIN), *argv])
    cfg = train_tool.merge_args(Config.fromfile(PRETRAIN), args)
    return cfg.optim_wrapper


def test_gpu_with_bf16_keeps_the_configs_bf16(train_tool, monkeypatch):
    wrapper = final_wrapper(train_tool, monkeypatch, 'cuda')
    assert wrapper.type == 'BF16OptimWrapper' and 'loss_scale' not in wrapper
    # --amp does not turn a mixed-precision config into fp16
    wrapper = final_wrapper(train_tool, monkeypatch, 'cuda', ['--amp'])
    assert wrapper.type == 'BF16OptimWrapper'


def test_gpu_without_bf16_falls_back_to_fp16_amp(train_tool, monkeypatch,
                                                 log_lines):
    wrapper = final_wrapper(train_tool, monkeypatch, 'cuda', bf16=False)
    assert wrapper.type == 'AmpOptimWrapper'
    assert wrapper.loss_scale == 'dynamic'
    assert any('no bf16 support' in line for line in log_lines)


def test_fp16_stays_selectable(train_tool, monkeypatch):
    wrapper = final_wrapper(
        train_tool, monkeypatch, 'cuda',
        ['--cfg-options', 'optim_wrapper.type=AmpOptimWrapper'])
    assert wrapper.type == 'AmpOptimWrapper'


def test_cpu_runs_fp32_unless_amp(train_tool, monkeypatch, log_lines):
    wrapper = final_wrapper(train_tool, monkeypatch, 'cpu')
    assert wrapper.type == 'OptimWrapper'
    assert any('BF16OptimWrapper (bf16) is replaced by OptimWrapper (fp32)'
               in line for line in log_lines)
    wrapper = final_wrapper(train_tool, monkeypatch, 'cpu', ['--amp'])
    assert wrapper.type == 'CPUAmpOptimWrapper'
