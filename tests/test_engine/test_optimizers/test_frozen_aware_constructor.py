import logging

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import cim_mm  # noqa: F401


class Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.online = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
        self.target = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
        self.target.requires_grad_(False)
        self.online[0].bias.requires_grad_(False)  # partly frozen module


def _groups(constructor):
    model = Toy()
    cfg = dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
    if constructor:
        cfg['constructor'] = constructor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g['weight_decay']
            for g in wrapper.optimizer.param_groups for p in g['params']}


def test_frozen_submodules_are_left_out_and_trainable_groups_unchanged(
        caplog):
    ours = _groups('FrozenAwareOptimWrapperConstructor')
    default = _groups(None)
    assert not any(n.startswith('target.') for n in ours)
    # Everything trainable is grouped exactly as mmengine's default does.
    assert ours == {n: d for n, d in default.items()
                    if not n.startswith('target.')}
    assert ours['online.0.weight'] == 0.05 and ours['online.1.weight'] == 0


def test_one_info_line_instead_of_a_warning_per_parameter(tmp_path):
    # A fresh INFO logger becomes the current instance, which is where the
    # constructor logs; whatever logger earlier tests left is not used.
    logger = MMLogger.get_instance(f'{tmp_path.name}_log', log_level='INFO')
    records = []


    class Collect(logging.Handler):

        def emit(self, record):
            records.append(record)

    collect = Collect()
    logger.addHandler(collect)
    try:
        _groups('FrozenAwareOptimWrapperConstructor')
    finally:
        logger.removeHandler(collect)
    warnings = [r for r in records if r.levelno >= logging.WARNING
                and 'target' in r.getMessage()]
    infos = [r for r in records if 'target: frozen' in r.getMessage()]
    assert not warnings
    assert len(infos) == 1
