"""CIM with the Table 4 trackers' necks and heads: the configs build, train
on real pairs through the shared encoder, and predict maps."""
import os.path as osp

import numpy as np
import pytest
import skimage.data
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import METRICS, MODELS, TRANSFORMS

import cim_mm  # noqa: F401
from cim_mm.models.heads import TrackerHead

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
TRACKERS = {
    'siamfc': ('SiameseCorrelation', 'SiamFCHead', {'loss_cls'}),
    'siamrpn': ('SiameseCorrelation', 'SiamRPNHead',
                {'loss_cls', 'loss_bbox'}),
    'transt': ('TransTFeatureFusion', 'TransTHead',
               {'loss_cls', 'loss_bbox', 'loss_giou'}),
}
# A small encoder and small tracker widths, set from the config.
SMALL = {
    'model.backbone.arch': dict(
        _delete_=True, embed_dims=32, num_layers=2, num_heads=2,
        feedforward_channels=64),
    'model.neck.in_channels': 32,
}
SMALL_WIDTHS = {
    'siamfc': {},
    'siamrpn': {'model.neck.embed_dim': 24, 'model.head.in_channels': 24},
    'transt': {'model.neck.embed_dim': 24, 'model.neck.num_heads': 2,
               'model.neck.feedforward_channels': 48,
               'model.neck.num_layers': 2, 'model.head.embed_dim': 24},
}


def _config(name):
    return Config.fromfile(
        osp.join(REPO, f'configs/ablations/cim_vitb_300e_in200_{name}.py'))


def _small(name):
    cfg = _config(name)
    cfg.merge_from_dict({**SMALL, **SMALL_WIDTHS[name]})
    return cfg


def _real_batch(cfg, num_images=2):
    """Pairs of real photos through the config's pair and packing steps."""
    pipeline = cfg.train_dataloader.dataset.pipeline
    pair, pack = (TRANSFORMS.build(step) for step in pipeline[1:3])
    photos = (skimage.data.astronaut, skimage.data.coffee,
              skimage.data.chelsea)
    np.random.seed(0)
    return default_collate([
        pack(pair(dict(img=photos[i]()[..., ::-1].copy())))
        for i in range(num_images)
    ])


@pytest.mark.parametrize('name', sorted(TRACKERS))
def test_config_builds_a_shared_encoder_tracker_on_cims_recipe(name):
    cfg = _config(name)
    base = Config.fromfile(osp.join(REPO, 'configs/cim_vitb_300e_in200.py'))
    neck_type, head_type, _ = TRACKERS[name]
    assert (cfg.model.neck.type, cfg.model.head.type) == (neck_type,
                                                          head_type)
    assert cfg.model.bootstrap == 'shared'
    assert 'TargetEMAHook' not in [h.type for h in cfg.custom_hooks]
    # pairs, schedule and encoder exactly CIM's
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg'):
        assert cfg[key] == base[key], key
    assert cfg.model.backbone == base.model.backbone
    assert cfg.model.data_preprocessor == base.model.data_preprocessor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    assert model.target_backbone is None
    assert isinstance(model.head, TrackerHead)
    assert type(model.neck).__name__ == neck_type


@pytest.mark.parametrize('name', sorted(TRACKERS))
def test_one_step_on_real_pairs_trains_the_encoder(name):
    cfg = _small(name)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = model.data_preprocessor(_real_batch(cfg), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == TRACKERS[name][2]
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    trained = {n: p for n, p in model.backbone.named_parameters()
               if p.requires_grad}
    assert trained
    for param_name, param in trained.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, \
            param_name
    assert all(p.grad is not None for p in model.head.parameters())


@pytest.mark.parametrize('name', sorted(TRACKERS))
def test_predict_gives_correlation_maps_for_the_iou_metric(name):
    cfg = _small(name)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    data = model.data_preprocessor(_real_batch(cfg), training=False)
    predictions = model(**data, mode='predict')
    maps = torch.stack([p.pred_corr_maps for p in predictions])
    assert maps.shape == (2, 6, 160, 160)
    assert maps.min() >= 0 and maps.max() <= 1
    metric = METRICS.build(dict(type='CorrelationIoU'))
    metric.process(None, [p.to_dict() for p in predictions])
    assert 0 <= metric.compute_metrics(metric.results)['iou'] <= 100


@pytest.mark.parametrize('name', sorted(TRACKERS))
def test_predict_needs_no_exemplar_corners(name):
    """At inference (CorrelationInferencer) the exemplar's place is unknown:
    the samples carry the context shape only."""
    cfg = _small(name)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    data = model.data_preprocessor(_real_batch(cfg), training=False)
    for sample in data['data_samples']:
        del sample.exemplar_corners
        del sample.corr_maps
    predictions = model(**data, mode='predict')
    assert predictions[0].pred_corr_maps.shape == (6, 160, 160)


def test_box_target_encloses_the_real_correlation_maps():
    """The enclosing box of each exemplar's corners holds its map and is
    tight: each side within 2 px of the outermost pixel centre (a corner of
    a turned rectangle may fall between pixel centres)."""
    from cim_mm.models.heads.tracker_head import enclosing_boxes
    cfg = _small('siamrpn')
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(_real_batch(cfg), training=True)
    for sample in data['data_samples']:
        boxes = enclosing_boxes(sample.exemplar_corners)
        for box, corr_map in zip(boxes, sample.corr_maps):
            rows, cols = torch.nonzero(corr_map, as_tuple=True)
            x0, y0, x1, y1 = box.tolist()
            extent = (cols.min() + .5, rows.min() + .5, cols.max() + .5,
                      rows.max() + .5)
            assert x0 <= extent[0] < x0 + 2 and y0 <= extent[1] < y0 + 2
            assert x1 - 2 < extent[2] <= x1 and y1 - 2 < extent[3] <= y1
