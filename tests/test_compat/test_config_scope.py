"""cim_mm.compat.config_scope: _base_ = ['cim_mm::...'] inheritance."""
import pytest
from mmengine.config import Config

import cim_mm  # noqa: F401  (registers the cim_mm:: scope)


def test_cim_mm_config_scope_resolves_to_the_imported_package(tmp_path):
    user_cfg = tmp_path / 'user.py'
    user_cfg.write_text(
        "_base_ = ['cim_mm::finetune/"
        "vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py']\n"
        "model = dict(head=dict(num_classes=10))\n")
    cfg = Config.fromfile(str(user_cfg))
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.head.num_classes == 10
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(9.6e-3)


MAE = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
FINETUNE = 'configs/finetune/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py'


def test_package_configs_resolve_without_pkg_resources(monkeypatch):
    """The GPU host's Python may lack pkg_resources (setuptools >= 82):
    mmpretrain:: names, in the tools and in _base_, still resolve."""
    import os.path as osp

    from cim_mm.compat import load_config
    monkeypatch.setitem(__import__('sys').modules, 'pkg_resources', None)
    with pytest.raises(ImportError):
        import pkg_resources  # noqa: F401
    mae = load_config(MAE)
    assert mae.model.type == 'MAE'
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    finetune = Config.fromfile(osp.join(repo, FINETUNE))  # mmpretrain::_base_
    assert finetune.model.type == 'ImageClassifier'


def test_load_config_reads_a_file_too(tmp_path):
    from cim_mm.compat import load_config
    path = tmp_path / 'plain.py'
    path.write_text('value = 3\n')
    assert load_config(str(path)).value == 3
