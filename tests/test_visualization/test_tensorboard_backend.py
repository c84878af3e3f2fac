import sys
import types

import pytest
from mmengine.registry import VISBACKENDS
from mmengine.visualization import Visualizer

from cim_mm.visualization import CheckedTensorboardVisBackend


def test_a_missing_tensorboard_is_refused_at_build_time_naming_the_fix(
        monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'tensorboard', None)  # not importable
    with pytest.raises(ImportError, match='pip install tensorboard'):
        Visualizer(name='tb_missing', save_dir=str(tmp_path), vis_backends=[
            dict(type='LocalVisBackend'),
            dict(type='CheckedTensorboardVisBackend')])


def test_builds_as_mmengines_backend_when_tensorboard_imports(
        monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'tensorboard',
                        types.ModuleType('tensorboard'))
    backend = VISBACKENDS.build(
        dict(type='CheckedTensorboardVisBackend', save_dir=str(tmp_path)))
    assert isinstance(backend, CheckedTensorboardVisBackend)
    assert backend._save_dir == str(tmp_path)  # nothing written yet
    assert not list(tmp_path.iterdir())


def test_found_from_an_mmpretrain_scoped_config():
    from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
    assert MMPRETRAIN_VISBACKENDS.get('CheckedTensorboardVisBackend') is \
        CheckedTensorboardVisBackend
