"""TransTHead: per-token classification and box regression, TransT's
losses."""
import torch
from mmpretrain.structures import DataSample

from cim_mm.models.heads import TransTHead

DIAMOND = torch.tensor([[53., 50.], [73., 70.], [53., 90.], [33., 70.]])


def _samples(corners, context_size=160):
    samples = []
    for sample_corners in corners:
        sample = DataSample(metainfo=dict(img_shape=(context_size,
                                                     context_size)))
        sample.set_data(dict(exemplar_corners=sample_corners))
        samples.append(sample)
    return samples


def test_outputs_a_logit_and_a_normalised_box_per_token():
    head = TransTHead(embed_dim=32)
    logits, boxes = head(torch.randn(2, 3, 32, 10, 10))
    assert logits.shape == (2, 3, 10, 10) and boxes.shape == (2, 3, 10, 10, 4)
    assert boxes.min() > 0 and boxes.max() < 1


def test_targets_are_the_tokens_in_the_enclosing_box_and_the_box():
    samples = _samples(DIAMOND[None, None])
    labels, box = TransTHead(embed_dim=8).targets(10, samples, 'cpu')
    # box (33, 50, 73, 90); token centres 8, 24, 40, ...: cols 2-4, rows 3-5
    assert torch.nonzero(labels[0, 0]).tolist() == [[r, c]
                                                     for r in (3, 4, 5)
                                                     for c in (2, 3, 4)]
    torch.testing.assert_close(
        box, torch.tensor([[[53 / 160, 70 / 160, 40 / 160, 40 / 160]]]))


def test_losses_are_transt_weighted_and_minimal_at_the_target():
    head = TransTHead(embed_dim=8)
    samples = _samples(torch.stack([DIAMOND, DIAMOND + 30])[None])
    labels, box = head.targets(10, samples, 'cpu')
    logits = torch.randn(1, 2, 10, 10)
    boxes = torch.rand(1, 2, 10, 10, 4) * 0.5 + 0.25
    head.forward = lambda _: (logits, boxes)
    losses = head.loss(None, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_giou'}
    # BCE with negatives weighted 1/16, weighted mean, x 8.334
    weight = labels + (1 - labels) / 16
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels, reduction='none')
    torch.testing.assert_close(losses['loss_cls'],
                               8.334 * (weight * bce).sum() / weight.sum())
    # L1 summed over the coordinates, averaged over the positive tokens, x 5
    positive = labels.bool()
    true = box[:, :, None, None].expand_as(boxes)[positive]
    l1 = (boxes[positive] - true).abs().sum() / positive.sum()
    torch.testing.assert_close(losses['loss_bbox'], 5 * l1)

    head.forward = lambda _: (40 * labels - 20,
                              box[:, :, None, None].expand_as(boxes))
    best = head.loss(None, samples)
    assert best['loss_cls'] < 1e-7
    assert best['loss_bbox'] == 0 and best['loss_giou'].abs() < 1e-5


def test_focal_loss_is_a_config_option():
    head = TransTHead(embed_dim=8, loss_cls=dict(type='FocalLoss'))
    losses = head.loss(torch.randn(1, 1, 8, 10, 10),
                       _samples(DIAMOND[None, None]))
    assert all(torch.isfinite(v) for v in losses.values())


def test_prediction_fills_the_best_tokens_box():
    head = TransTHead(embed_dim=8)
    logits = torch.zeros(1, 1, 10, 10)
    logits[0, 0, 4, 3] = 5.
    boxes = torch.full((1, 1, 10, 10, 4), 0.5)
    boxes[0, 0, 4, 3] = torch.tensor([0.5, 0.25, 0.5, 0.25])  # cx cy w h
    head.forward = lambda _: (logits, boxes)
    maps = head.predict(None, _samples(DIAMOND[None, None]))
    expected = torch.zeros(160, 160)
    expected[20:60, 40:120] = 1  # box (40, 20, 120, 60)
    torch.testing.assert_close(maps[0, 0], expected)


def test_giou_loss_is_torchvisions_without_its_mask():
    from torchvision.ops import generalized_box_iou_loss

    from cim_mm.models.heads.transt_head import giou_loss
    generator = torch.Generator().manual_seed(0)
    corner = torch.rand(500, 2, generator=generator, dtype=torch.float64)
    size = torch.rand(500, 2, generator=generator, dtype=torch.float64) * 0.5
    pred = torch.cat([corner, corner + size], 1).requires_grad_()
    corner_t = torch.rand(500, 2, generator=generator, dtype=torch.float64)
    target = torch.cat([corner_t, corner_t + size.flip(1)], 1)
    ours = giou_loss(pred, target)
    theirs = generalized_box_iou_loss(pred, target, reduction='none')
    assert (ours < 1).any() and (ours > 1).any()  # overlapping and apart
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    grad_ours, = torch.autograd.grad(ours.sum(), pred)
    grad_theirs, = torch.autograd.grad(theirs.sum(), pred)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-12)


def test_box_losses_equal_the_masked_formulation_and_its_gradients():
    """Every token computed and kept on the positives: the same values and
    gradients as selecting the positives with a boolean mask."""
    from torchvision.ops import box_convert, generalized_box_iou_loss
    head = TransTHead(embed_dim=8)
    samples = _samples(torch.stack([DIAMOND, DIAMOND + 30])[None])
    labels, box = head.targets(10, samples, 'cpu')
    boxes = (torch.rand(1, 2, 10, 10, 4) * 0.5 + 0.25).requires_grad_()
    head.forward = lambda _: (torch.zeros(1, 2, 10, 10), boxes)
    losses = head.loss(None, samples)
    positive = labels.bool()
    pred = boxes[positive]
    true = box[:, :, None, None].expand_as(boxes)[positive]
    num = positive.sum()
    l1 = 5 * (pred - true).abs().sum() / num
    giou = 2 * generalized_box_iou_loss(
        box_convert(pred, 'cxcywh', 'xyxy'),
        box_convert(true, 'cxcywh', 'xyxy'), reduction='sum') / num
    for ours, theirs in ((losses['loss_bbox'], l1),
                         (losses['loss_giou'], giou)):
        torch.testing.assert_close(ours, theirs)
        grad_ours, = torch.autograd.grad(ours, boxes, retain_graph=True)
        grad_theirs, = torch.autograd.grad(theirs, boxes, retain_graph=True)
        torch.testing.assert_close(grad_ours, grad_theirs)
