"""CorrelationMapVisualizationHook: fixed pairs drawn every N iterations to
the visualizer, without changing the training."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

from cim_mm.engine.hooks import CorrelationMapVisualizationHook


def train(cfg, hook=None):
    runner = Runner.from_cfg(cfg)
    if hook is not None:
        runner.register_hook(hook, priority='LOW')
    runner.train()
    return runner


def test_draws_every_interval_and_leaves_training_unchanged(
        tiny_demo_cfg, tmp_path):
    cfg = copy.deepcopy(tiny_demo_cfg)
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h.type != 'CorrelationMapVisualizationHook']
    plain = copy.deepcopy(cfg)
    plain.work_dir = str(tmp_path / 'plain')
    plain.experiment_name = tmp_path.name + '_plain'
    baseline = train(plain).model.state_dict()

    hook = CorrelationMapVisualizationHook(interval=2, num_pairs=3,
                                           exemplars_per_pair=1)
    runner = train(cfg, hook)
    drawn = sorted(osp.basename(p) for p in glob.glob(
        osp.join(cfg.work_dir, '*', 'vis_data', 'vis_image', '*.png')))
    assert drawn == ['correlation_maps_2.png', 'correlation_maps_4.png']
    state = runner.model.state_dict()
    assert all(torch.equal(state[k], baseline[k]) for k in baseline)

    runner.model.train()
    image = hook.draw(runner)
    size = cfg.model.neck.out_size  # the demo's 96 x 96 context
    assert image.shape == (3 * (size + 2) - 2, 3 * size + 4, 3)
    assert runner.model.training  # restored after the eval-mode forward


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='interval'):
        CorrelationMapVisualizationHook(interval=0)
