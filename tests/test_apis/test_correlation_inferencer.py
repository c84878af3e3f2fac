"""cim_mm.apis.CorrelationInferencer and its model-free helpers.

A tiny CIM is trained for 2 iterations (seconds) to get a real runner
checkpoint; the inferencer must localise a box of an image and another
image on it, with the map at the image's size, the model's own data
preprocessing, and errors that name what is wrong with a checkpoint or a box.
"""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import cim_mm  # noqa: F401
from cim_mm.apis import (CheckpointMismatchError, CorrelationInferencer,
                         correlation_sizes, crop_box, largest_region)
from cim_mm.apis.correlation_box import draw_overlay, resize_map
from cim_mm.apis.correlation_inferencer import json_result
from cim_mm.checkpoint import read_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
TINY = {'model.backbone.arch.num_layers': 2}


@pytest.fixture(scope='module')
def inferencer(tiny_cim_run):
    config, checkpoint = tiny_cim_run
    return CorrelationInferencer(config, pretrained=checkpoint)


def _check_result(result, height, width):
    pred = result['pred_map']
    assert pred.shape == (height, width) and pred.dtype == np.float32
    assert 0 <= pred.min() and pred.max() <= 1
    assert json.loads(json.dumps(json_result(result))) == json_result(result)
    region = largest_region(pred, result['threshold'])
    assert result['box'] == region.box and result['score'] == region.score
    if result['box'] is not None:
        x0, y0, x1, y1 = result['box']
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert result['threshold'] < result['score'] <= result['peak']


def test_sizes_come_from_the_config(inferencer):
    assert (inferencer.context_size, inferencer.exemplar_size) == (96, 48)
    paper = Config.fromfile(osp.join(REPO, 'configs', 'cim_vitb_300e.py'))
    assert correlation_sizes(paper) == (160, 64)
    with pytest.raises(ValueError, match='pass context_size'):
        correlation_sizes(
            Config(
                dict(train_dataloader=dict(dataset=dict(
                    pipeline=[dict(type='PackInputs')])))))


def test_box_of_the_same_image(inferencer, nonsquare_photos, tmp_path):
    result, = inferencer(nonsquare_photos['coffee'],
                         box=(100, 50, 300.5, 200),
                         out_dir=str(tmp_path))
    _check_result(result, 400, 600)
    assert result['query_box'] == [100, 50, 301, 200]
    assert result['image'] == nonsquare_photos['coffee'] and result[
        'exemplar'] is None
    saved = cv2.imread(result['map'], cv2.IMREAD_UNCHANGED)
    assert saved.dtype == np.uint8 and saved.shape == (400, 600)
    np.testing.assert_array_equal(
        saved,
        np.round(result['pred_map'] * 255).astype(np.uint8))
    overlay = cv2.imread(result['overlay'])
    assert overlay.shape[0] == 400 and overlay.shape[1] > 600


def test_another_image_and_batches(inferencer, nonsquare_photos, tmp_path):
    queries = [
        dict(image=nonsquare_photos['coffee'],
             exemplar=nonsquare_photos['chelsea']),
        dict(image=nonsquare_photos['chelsea'], box=[10, 20, 200, 150])
    ]
    one_by_one = [inferencer(q)[0] for q in queries]
    batched = inferencer(queries,
                         batch_size=2,
                         threshold=0.4,
                         out_dir=str(tmp_path))
    for single, result, (h, w) in zip(one_by_one, batched, [(400, 600),
                                                            (300, 451)]):
        _check_result(result, h, w)
        assert result['threshold'] == 0.4 and osp.isfile(result['overlay'])
        np.testing.assert_allclose(result['pred_map'],
                                   single['pred_map'],
                                   atol=1e-5)
    assert batched[0]['exemplar'] == nonsquare_photos['chelsea']
    assert osp.basename(batched[0]['map']) == 'coffee_exemplar_chelsea_map.png'


def test_arrays_as_inputs(inferencer, nonsquare_photos, tmp_path):
    """BGR arrays (mmcv's convention), grayscale converted."""
    image = cv2.imread(nonsquare_photos['chelsea'])
    gray = cv2.cvtColor(cv2.imread(nonsquare_photos['coffee']),
                        cv2.COLOR_BGR2GRAY)
    result, = inferencer(dict(image=image, exemplar=gray),
                         out_dir=str(tmp_path))
    _check_result(result, 300, 451)
    assert result['image'] is None and result['exemplar'] is None
    assert osp.basename(result['map']) == 'image0_exemplar_0_map.png'
    from_array, = inferencer(image,
                             exemplar=cv2.imread(nonsquare_photos['coffee']))
    from_file, = inferencer(nonsquare_photos['chelsea'],
                            exemplar=nonsquare_photos['coffee'])
    np.testing.assert_array_equal(from_array['pred_map'],
                                  from_file['pred_map'])


def test_inputs_normalised_as_the_data_preprocessor_does(
        inferencer, nonsquare_photos):
    """The same map from hand-made inputs: whole image resized (INTER_AREA)
    to 96 x 96, box pixels to 48 x 48, RGB, the config's mean/std."""
    result, = inferencer(nonsquare_photos['coffee'], box=(100, 50, 300, 200))
    image = cv2.imread(nonsquare_photos['coffee'])
    context = cv2.resize(image, (96, 96), interpolation=cv2.INTER_AREA)
    exemplar = cv2.resize(image[50:200, 100:300], (48, 48),
                          interpolation=cv2.INTER_AREA)
    cfg = inferencer.config.model.data_preprocessor
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)

    def normalise(bgr):
        rgb = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1)
        return (rgb[None].float() - mean) / std

    with torch.no_grad():
        logits = inferencer.model._predict_logits(
            [normalise(context), normalise(exemplar)])
    expected = cv2.resize(logits.sigmoid()[0, 0].numpy(), (600, 400),
                          interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(result['pred_map'], expected, atol=1e-5)


def test_model_zoo_name_with_a_local_checkpoint(tiny_cim_run,
                                                nonsquare_photos):
    """The ViT-B entry shrunk to the trained model by overrides; sizes from
    its config (160/64), the hub's own config left untouched."""
    _, checkpoint = tiny_cim_run
    name = 'cim_vit-base-p16_8xb512-amp-coslr-300e_in1k'
    assert name in CorrelationInferencer.list_models('*vit-base*')
    tiny = CorrelationInferencer(
        name,
        pretrained=checkpoint,
        backbone=dict(arch=dict(_delete_=True,
                                embed_dims=128,
                                num_layers=2,
                                num_heads=4,
                                feedforward_channels=512)),
        neck=dict(in_channels=128, embed_dim=128, num_heads=4, out_size=96))
    assert (tiny.context_size, tiny.exemplar_size) == (160, 64)
    result, = tiny(nonsquare_photos['chelsea'], box=(0, 0, 100, 100))
    _check_result(result, 300, 451)
    from mmpretrain.apis import ModelHub
    assert ModelHub.get(name).config.model.neck.in_channels == 768
    with pytest.raises(ValueError, match='No CIM weights are released'):
        CorrelationInferencer(name, pretrained=True)


def _save(tmp_path, name, state):
    path = str(tmp_path / name)
    torch.save(state, path)
    return path


def test_wrong_checkpoints_name_the_missing_prefixes(tiny_cim_run, tmp_path):
    config, checkpoint = tiny_cim_run
    state = read_checkpoint(checkpoint)['state_dict']
    backbone = {
        k[9:]: v
        for k, v in state.items() if k.startswith('backbone.')
    }
    converted = _save(tmp_path, 'converted.pth', backbone)
    with pytest.raises(CheckpointMismatchError) as err:
        CorrelationInferencer(config, pretrained=converted)
    message = str(err.value)
    assert "has no 'backbone.*', 'neck.*', 'target_backbone.*' keys" in message
    assert 'not a CIM pre-training checkpoint' in message
    assert 'patch_embed.*' in message and converted in message

    classifier = {f'backbone.{k}': v for k, v in backbone.items()}
    classifier.update({
        'head.fc.weight': torch.zeros(10, 128),
        'head.fc.bias': torch.zeros(10)
    })
    path = _save(tmp_path, 'classifier.pth', dict(state_dict=classifier))
    with pytest.raises(CheckpointMismatchError,
                       match=r"has no 'neck.\*', 'target_backbone.\*' keys: "
                       r'it is not a CIM pre-training checkpoint \(found: '
                       rf'backbone.\* \({len(backbone)}\), head.\* \(2\)\)'):
        CorrelationInferencer(config, pretrained=path)

    missing = str(tmp_path / 'nowhere' / 'iter_9.pth')
    with pytest.raises(FileNotFoundError,
                       match='Checkpoint file not found: ' + missing):
        CorrelationInferencer(config, pretrained=missing)


def test_checkpoint_of_another_architecture_fails_strictly(tiny_cim_run):
    """The demo config has 4 layers; the checkpoint 2."""
    _, checkpoint = tiny_cim_run
    with pytest.raises(CheckpointMismatchError,
                       match=r'strict loading\): missing .*layers\.2\.'):
        CorrelationInferencer(DEMO_CONFIG, pretrained=checkpoint)


def test_not_a_cim_config():
    with pytest.raises(TypeError, match="model.type='CIM'"):
        CorrelationInferencer(osp.join(REPO, 'tests', 'data', 'toy_config.py'))


@pytest.mark.parametrize('box,match', [
    ((500, 300, 650, 350), r'not inside the image \(600 x 400 pixels\)'),
    ((-1, 0, 10, 10), 'not inside the image'),
    ((100, 50, 100, 200), 'is empty'),
    ((300, 50, 100, 200), 'is empty'),
    ((0, 0, float('nan'), 5), '4 finite numbers'),
    ((0, 0, 5), '4 finite numbers'),
])
def test_bad_boxes(inferencer, nonsquare_photos, box, match):
    with pytest.raises(ValueError, match=match) as err:
        inferencer(nonsquare_photos['coffee'], box=box)
    if 'inside' in match:
        assert nonsquare_photos['coffee'] in str(err.value)


def test_bad_queries(inferencer, nonsquare_photos):
    with pytest.raises(ValueError, match='not both'):
        inferencer(nonsquare_photos['coffee'],
                   box=(0, 0, 5, 5),
                   exemplar=nonsquare_photos['chelsea'])
    with pytest.raises(ValueError, match='exactly one of box'):
        inferencer(nonsquare_photos['coffee'])
    with pytest.raises(FileNotFoundError, match='exemplar image not found'):
        inferencer(nonsquare_photos['coffee'],
                   exemplar=nonsquare_photos['coffee'] + '.missing')


# ---------------------------------------------------------------------------
# map -> box and score, on hand-made maps
# ---------------------------------------------------------------------------
def test_the_larger_of_two_blobs_wins():
    prob = np.zeros((20, 30), np.float32)
    prob[2:5, 3:6] = 0.9  # 9 pixels
    prob[10:14, 20:24] = 0.7  # 16 pixels
    prob[11, 21] = 0.95
    region = largest_region(prob)
    assert region.box == [20, 10, 24, 14] and region.area == 16
    assert region.score == pytest.approx((15 * 0.7 + 0.95) / 16)
    assert region.peak == pytest.approx(0.95)
    # a higher threshold leaves only the first blob
    assert largest_region(prob, 0.8).box == [3, 2, 6, 5]


def test_threshold_is_strict_and_empty_maps_have_no_box():
    prob = np.full((8, 8), 0.5, np.float32)
    assert largest_region(prob, 0.5) == (None, None, 0, 0.5)
    assert largest_region(prob, 0.49).box == [0, 0, 8, 8]
    assert largest_region(np.zeros((4, 6)), 0.5).box is None
    with pytest.raises(ValueError, match=r'in \[0, 1\]'):
        largest_region(prob, 1.5)


def test_eight_connectivity_and_ties_in_raster_order():
    prob = np.zeros((10, 10), np.float32)
    prob[5, 5] = prob[6, 6] = 1  # diagonal neighbours: one region
    assert largest_region(prob).box == [5, 5, 7, 7]
    prob = np.zeros((10, 30), np.float32)
    prob[5:7, 2:4] = 0.8  # 4 pixels, starts on row 5
    prob[2:4, 20:22] = 0.6  # 4 pixels, starts on row 2: first
    assert largest_region(prob).box == [20, 2, 22, 4]


def test_box_in_input_pixels_for_a_non_square_image():
    """A 96 x 96 map with a blob on columns 48..71, rows 24..47, stretched
    to a 600 x 400 image: the box is the blob's place in the image."""
    prob = np.zeros((96, 96), np.float32)
    prob[24:48, 48:72] = 1
    full = resize_map(prob, 600, 400)
    assert full.shape == (400, 600)
    box = largest_region(full).box
    np.testing.assert_allclose(box, [300, 100, 450, 200], atol=1)


def test_crop_box_covers_the_box_in_whole_pixels():
    assert crop_box((10.2, 5, 20.5, 9.9), 30, 20) == [10, 5, 21, 10]
    assert crop_box((0, 0, 30, 20), 30, 20) == [0, 0, 30, 20]
    with pytest.raises(ValueError, match=r'\(30 x 20 pixels\)'):
        crop_box((0, 0, 30.5, 20), 30, 20)


def test_overlay_shows_image_map_boxes_and_exemplar():
    image = np.full((120, 300, 3), 128, np.uint8)
    prob = np.zeros((120, 300), np.float32)
    prob[60:100, 150:240] = 1
    exemplar = np.zeros((8, 8, 3), np.uint8)
    exemplar[..., 2] = 255  # red
    overlay = draw_overlay(image, prob, exemplar, [150, 60, 240, 100], 0.9,
                           [0, 0, 30, 30])
    assert overlay.shape[0] == 120 and overlay.shape[1] > 300
    assert (overlay[0, 15] == 255).all()  # the query box, white
    assert (overlay[99, 200] == (0, 255, 0)).all()  # the predicted box
    assert (overlay[80, 200] != 128).any()  # the map
    assert (overlay[110, 20] == 128).all()  # the image, no map there
    assert (overlay[20, 310] == (0, 0, 255)).all()  # the exemplar column
