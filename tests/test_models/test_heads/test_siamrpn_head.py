"""SiamRPNHead: anchors, SiamRPN's anchor labels and sampling, box offsets
and losses."""
import pytest
import torch
from mmpretrain.structures import DataSample
from torchvision.ops import box_iou

from cim_mm.models.heads import SiamRPNHead
from cim_mm.models.heads.siamrpn_head import decode_boxes, encode_boxes

RATIOS = (0.33, 0.5, 1, 2, 3)


def _samples(boxes, context_size=160):
    """Samples whose exemplars are the axis-aligned (B, K, 4) boxes."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    corners = torch.stack([
        torch.stack(p, -1) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    ], -2)
    samples = []
    for sample_corners in corners:
        sample = DataSample(metainfo=dict(img_shape=(context_size,
                                                     context_size)))
        sample.set_data(dict(exemplar_corners=sample_corners))
        samples.append(sample)
    return samples


def _index(head, shape, row, col, size=7):
    """Anchor index of (scale, ratio) = shape at cell (row, col)."""
    return (shape * size + row) * size + col


def test_outputs_have_one_logit_and_four_offsets_per_anchor():
    head = SiamRPNHead(in_channels=16)
    logits, deltas = head(torch.randn(2, 3, 16, 7, 7))
    assert head.num_anchors == 15
    assert logits.shape == (2, 3, 15 * 49) and deltas.shape == (2, 3, 735, 4)


def test_anchors_are_centred_on_the_correlation_cells():
    head = SiamRPNHead(scales=(6, ), ratios=RATIOS)
    anchors = head.anchors(7, 160)
    assert anchors.shape == (5 * 49, 4)
    centre = (anchors[:, :2] + anchors[:, 2:]) / 2
    size = anchors[:, 2:] - anchors[:, :2]
    # cell (row 3, col 3) is the context centre; cells 16 px apart
    torch.testing.assert_close(centre[_index(head, 2, 3, 3)],
                               torch.tensor([80., 80.]))
    torch.testing.assert_close(centre[_index(head, 2, 0, 6)],
                               torch.tensor([128., 32.]))
    torch.testing.assert_close(size.prod(1), torch.full((245, ), 96.**2))
    aspect = (size[:, 1] / size[:, 0]).reshape(5, 49)[:, 0]
    torch.testing.assert_close(aspect, torch.tensor(RATIOS))


def test_anchor_labels_follow_siamrpn_iou_thresholds():
    head = SiamRPNHead(scales=(4, 6, 8), ratios=(1, ), num_samples=10**4,
                       max_positives=10**4)
    anchors = head.anchors(7, 160)
    box = torch.tensor([[32., 32., 128., 128.]])  # the 96 px anchor at (3, 3)
    labels, _ = head.targets(anchors, box)
    labels = labels[0]
    scale6 = 1
    # IoU 1 and, shifted by one cell, 80 * 96 / (2 * 96^2 - 80 * 96) = 0.71
    for row, col in ((3, 3), (3, 4), (3, 2), (2, 3), (4, 3)):
        assert labels[_index(head, scale6, row, col)] == 1
    assert labels.eq(1).sum() == 5
    # two cells: 0.5; one cell diagonally: 0.53; 64 and 128 px squares at the
    # centre: 0.44 and 0.56 -> neither positive nor negative
    for shape, row, col in ((scale6, 3, 5), (scale6, 2, 2), (0, 3, 3),
                            (2, 3, 3)):
        assert labels[_index(head, shape, row, col)] == -1
    # the 64 px square in the corner cell: 32^2 / (64^2 + 96^2 - 32^2) = 0.08
    assert labels[_index(head, 0, 0, 0)] == 0


def test_sampling_keeps_at_most_16_positives_of_64_anchors_per_pair():
    head = SiamRPNHead(scales=(4, 6, 8, 10), ratios=(0.9, 1, 1.1))
    anchors = head.anchors(7, 160)
    boxes = torch.tensor([[24., 24., 136., 136.], [10., 20., 30., 40.]])
    labels, _ = head.targets(anchors, boxes)
    full, _ = SiamRPNHead(scales=(4, 6, 8, 10), ratios=(0.9, 1, 1.1),
                          num_samples=10**4,
                          max_positives=10**4).targets(anchors, boxes)
    assert full[0].eq(1).sum() > 16  # more positives than SiamRPN keeps
    assert labels[0].eq(1).sum() == 16 and labels[0].ge(0).sum() == 64
    assert labels[1].eq(1).sum() == 0 and labels[1].eq(0).sum() == 64
    sampled = labels >= 0
    assert torch.equal(labels[sampled], full[sampled])  # a subset


def test_offsets_are_siamrpn_normalised_and_decode_back():
    anchors = torch.tensor([[0., 0., 20., 10.]])
    boxes = torch.tensor([[5., 5., 45., 10.]])
    deltas = encode_boxes(boxes, anchors)
    # centres (10, 5) -> (25, 7.5), sizes (20, 10) -> (40, 5)
    expected = torch.tensor([[15 / 20, 2.5 / 10,
                              torch.log(torch.tensor(2.)),
                              torch.log(torch.tensor(.5))]])
    torch.testing.assert_close(deltas, expected)
    torch.testing.assert_close(decode_boxes(deltas, anchors), boxes)


def test_loss_is_minimal_at_the_target_and_predicts_the_best_box():
    torch.manual_seed(0)
    head = SiamRPNHead(in_channels=8)
    head.eval()
    boxes = torch.tensor([[[32., 40., 120., 128.], [60., 20., 150., 90.]]])
    samples = _samples(boxes)
    response = torch.randn(1, 2, 8, 7, 7)
    losses = head.loss(response, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())

    # perfect outputs: logit 20 at IoU > 0.6, -20 elsewhere, the offsets
    anchors = head.anchors(7, 160)
    logits = 40 * (box_iou(boxes[0], anchors) > 0.6).float() - 20
    target = encode_boxes(boxes[0, :, None], anchors)
    head.forward = lambda _: (logits[None], target[None])
    best = head.loss(response, samples)
    assert best['loss_bbox'] == 0 and best['loss_cls'] < 1e-8
    maps = head.predict(response, samples)
    assert maps.shape == (1, 2, 160, 160)
    # the best anchor regresses exactly the box: its pixel centres are 1
    expected = torch.zeros(2, 160, 160)
    expected[0, 40:128, 32:120] = 1
    expected[1, 20:90, 60:150] = 1
    torch.testing.assert_close(maps[0], expected)


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match='neg_iou_thr'):
        SiamRPNHead(pos_iou_thr=0.3, neg_iou_thr=0.6)
