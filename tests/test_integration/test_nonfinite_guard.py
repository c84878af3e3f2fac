"""A NaN loss in a CIM run (the demo config, shrunk): the guarded step
leaves the online weights, AdamW's state and the EMA target exactly as the
step before left them, and the next step trains again."""
import math

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

pytestmark = pytest.mark.usefixtures('one_torch_thread')

NAN_ITER = 2  # 1-based, as the log counts


class Snapshots(Hook):
    """After every iteration (after TargetEMAHook): copies of the online
    and target weights and of AdamW's state."""
    priority = 'LOWEST'

    def __init__(self):
        self.taken = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = runner.model
        optimizer = runner.optim_wrapper.optimizer
        self.taken[runner.iter + 1] = dict(
            online={k: v.clone()
                    for k, v in model.backbone.state_dict().items()},
            target={k: v.clone()
                    for k, v in model.target_backbone.state_dict().items()},
            optimizer={(i, k): v.clone()
                       for i, p in enumerate(optimizer.param_groups[0]
                                             ['params'])
                       for k, v in optimizer.state[p].items()})


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_nan_loss_reaches_neither_weights_nor_adam_state_nor_target(
        tiny_demo_cfg):
    cfg = tiny_demo_cfg
    cfg.merge_from_dict({
        'train_cfg.max_iters': 3, 'train_cfg.val_interval': 10,
        'default_hooks.checkpoint': None,
        'param_scheduler.1.end': 3, 'param_scheduler.1.T_max': 2})
    assert 'NonFiniteGuardHook' in [h['type'] for h in cfg.custom_hooks]
    assert cfg.optim_wrapper.optimizer.fused is True
    runner = Runner.from_cfg(cfg)
    snapshots = Snapshots()
    runner.register_hook(snapshots)

    def poison(module, args, output):
        if isinstance(output, dict) and runner.iter + 1 == NAN_ITER:
            return dict(output, loss=output['loss'] * math.nan)

    runner.model.register_forward_hook(poison)
    runner.train()
    before, nan, after = (snapshots.taken[i] for i in (1, 2, 3))
    for part in ('online', 'target', 'optimizer'):
        assert _equal(before[part], nan[part]), part
    assert nan['optimizer'][(0, 'step')].item() == 1
    # training went on: the next step moved all three
    for part in ('online', 'target', 'optimizer'):
        assert not _equal(nan[part], after[part]), part
    assert after['optimizer'][(0, 'step')].item() == 2
    for value in after['online'].values():
        assert torch.isfinite(value).all()
