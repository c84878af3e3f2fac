"""FrozenAwareOptimWrapperConstructor merges equal parameter groups without
changing any parameter's settings or the optimisation itself."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401
from cim_mm.engine.optimizers.frozen_aware_constructor import \
    merge_param_groups

DEMO_CONFIG = 'configs/cim_demo.py'


def settings_by_name(model, wrapper):
    """{parameter name: its group's optimizer settings}, without the keys
    that mmengine's constructor only records (``lr_mult``, ``decay_mult``).
    """
    names = {id(p): n for n, p in model.named_parameters()}
    return {
        names[id(p)]: {
            k: v
            for k, v in group.items()
            if k not in ('params', 'lr_mult', 'decay_mult')
        }
        for group in wrapper.optimizer.param_groups for p in group['params']
    }


def build(model, optim_cfg, constructor):
    cfg = copy.deepcopy(optim_cfg)
    cfg.pop('type', None)  # OptimWrapper: AMP needs a GPU
    if constructor is None:
        cfg.pop('constructor', None)
    else:
        cfg['constructor'] = constructor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_optim_wrapper(model, cfg)


@pytest.fixture(scope='module')
def cim_model_and_optim_cfg():
    cfg = Config.fromfile(DEMO_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, cfg.optim_wrapper.to_dict()


def test_cim_gets_two_groups_with_the_default_constructors_settings(
        cim_model_and_optim_cfg):
    model, optim_cfg = cim_model_and_optim_cfg
    merged = build(model, optim_cfg, 'FrozenAwareOptimWrapperConstructor')
    default = build(model, optim_cfg, None)
    assert len(default.optimizer.param_groups) > 20  # one per parameter
    groups = merged.optimizer.param_groups
    assert sorted(g['weight_decay'] for g in groups) == [0.0, 0.05]
    ours = settings_by_name(model, merged)
    theirs = settings_by_name(model, default)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(ours) == trainable
    assert ours == {n: theirs[n] for n in trainable}
    # norms, biases and tokens have no weight decay
    assert ours['backbone.cls_token']['weight_decay'] == 0
    assert ours['backbone.ln1.weight']['weight_decay'] == 0
    assert ours['neck.embed.bias']['weight_decay'] == 0
    assert ours['neck.embed.weight']['weight_decay'] == 0.05


@pytest.mark.parametrize('optimizer', [
    dict(type='AdamW', lr=1e-2, betas=(0.9, 0.95), weight_decay=0.05),
    dict(type='AdamW', lr=1e-2, betas=(0.9, 0.95), weight_decay=0.05,
         foreach=True),
    dict(type='SGD', lr=1e-1, momentum=0.9, weight_decay=0.05),
])
def test_merged_groups_take_the_same_steps(optimizer):
    torch.manual_seed(0)
    base = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))
    optim_cfg = dict(optimizer=optimizer,
                     paramwise_cfg=dict(norm_decay_mult=0.0,
                                        bias_decay_mult=0.0))
    models = [copy.deepcopy(base) for _ in range(2)]
    wrappers = [
        build(models[0], optim_cfg, 'FrozenAwareOptimWrapperConstructor'),
        build(models[1], optim_cfg, None)
    ]
    assert [len(w.optimizer.param_groups) for w in wrappers] == [2, 6]
    data = torch.randn(16, 4)
    for _ in range(3):
        for model, wrapper in zip(models, wrappers):
            wrapper.update_params(model(data).square().mean())
    for (name, a), b in zip(models[0].named_parameters(),
                            models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
        assert not torch.equal(a, base.state_dict()[name])


def test_merge_keeps_first_appearance_order_and_separates_settings():
    a, b, c, d = (torch.nn.Parameter(torch.zeros(1)) for _ in range(4))
    groups = [
        dict(params=[a], lr=1.0, weight_decay=0.0),
        dict(params=[b], lr=1.0, weight_decay=0.1),
        dict(params=[c], lr=1.0, weight_decay=0.0),
        dict(params=[d], lr=2.0, weight_decay=0.0),
    ]
    merged = merge_param_groups(groups)
    assert [[id(p) for p in g['params']] for g in merged] == [
        [id(a), id(c)], [id(b)], [id(d)]]
    assert [(g['lr'], g['weight_decay']) for g in merged] == [
        (1.0, 0.0), (1.0, 0.1), (2.0, 0.0)]


def test_a_missing_setting_is_the_optimizers_default():
    a, b = (torch.nn.Parameter(torch.zeros(1)) for _ in range(2))
    merged = merge_param_groups(
        [dict(params=[a], weight_decay=0.0),
         dict(params=[b], lr=1.0, weight_decay=0.0, decay_mult=0.0)],
        defaults=dict(lr=1.0, weight_decay=0.05))
    assert merged == [dict(params=[a, b], lr=1.0, weight_decay=0.0)]
