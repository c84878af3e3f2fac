"""SiamFCHead: SiamFC's balanced logistic loss on the region at score-map
resolution."""
import torch
from mmpretrain.structures import DataSample

from cim_mm.models.heads import SiamFCHead

DIAMOND = torch.tensor([[53., 50.], [73., 70.], [53., 90.], [33., 70.]])


def _samples(corners, context_size=160):
    samples = []
    for sample_corners in corners:
        sample = DataSample(metainfo=dict(img_shape=(context_size,
                                                     context_size)))
        sample.set_data(dict(exemplar_corners=sample_corners))
        samples.append(sample)
    return samples


def test_target_is_the_region_on_the_centred_score_grid():
    # 7 x 7 cells 16 px apart centred on 160 px: centres 32, 48, ..., 128
    samples = _samples(DIAMOND[None, None])
    target = SiamFCHead().targets(torch.zeros(1, 1, 7, 7), samples)
    assert target.shape == (1, 1, 7, 7)
    assert torch.nonzero(target[0, 0]).tolist() == [[2, 1], [2, 2], [3, 1]]


def test_loss_is_balanced_logistic_loss_and_minimal_at_the_target():
    head = SiamFCHead()
    samples = _samples(DIAMOND[None, None].repeat(2, 3, 1, 1))
    target = head.targets(torch.zeros(2, 3, 7, 7), samples)
    scores = torch.randn(2, 3, 7, 7)
    loss = head.loss(scores, samples)
    assert set(loss) == {'loss_cls'}
    # SiamFC: mean logistic loss of the positives and of the negatives, halved
    per_cell = torch.nn.functional.softplus(-(2 * target - 1) * scores)
    pos = (per_cell * target).sum((-2, -1)) / target.sum((-2, -1))
    neg = (per_cell * (1 - target)).sum((-2, -1)) / (1 - target).sum((-2, -1))
    torch.testing.assert_close(loss['loss_cls'], ((pos + neg) / 2).mean())
    assert head.loss(20 * (2 * target - 1), samples)['loss_cls'] < 1e-8


def test_output_shape_and_prediction_upsamples_between_cell_centres():
    head = SiamFCHead()
    samples = _samples(DIAMOND.repeat(2, 3, 1, 1))
    # a ramp along x: the score at cell u is u
    scores = torch.arange(7.).expand(2, 3, 7, 7)
    assert head(scores).shape == (2, 3, 7, 7)
    probs = head.predict(scores, samples)
    assert probs.shape == (2, 3, 160, 160)
    pixels = torch.arange(160.) + 0.5
    expected = ((pixels - 24) / 16 - 0.5).clamp(0, 6).sigmoid()
    torch.testing.assert_close(probs[1, 2, 40], expected)
    torch.testing.assert_close(probs[0, 0, :, 100],
                               expected[100].expand(160))
