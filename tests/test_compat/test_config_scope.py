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
