import pytest
import torch

from cim_mm.evaluation import CorrelationIoU


def _sample(pred, true):
    return dict(pred_corr_maps=pred, corr_maps=true)


def test_iou_of_thresholded_maps_and_whole_context_baseline():
    true = torch.zeros(2, 4, 4, dtype=torch.uint8)
    true[0, :2, :2] = 1          # 4 pixels
    true[1, :, :2] = 1           # 8 pixels
    pred = torch.zeros(2, 4, 4)
    pred[0, :2, :3] = 0.9        # 6 predicted, 4 overlap -> IoU 4/6
    pred[1] = 0.7                # everything -> IoU 8/16
    metric = CorrelationIoU()
    metric.process(None, [_sample(pred, true)])
    out = metric.compute_metrics(metric.results)
    assert out['iou'] == pytest.approx((4 / 6 + 8 / 16) / 2 * 100)
    assert out['whole_context_iou'] == pytest.approx((4 / 16 + 8 / 16) / 2 * 100)


def test_threshold_is_applied_to_probabilities():
    true = torch.ones(1, 2, 2, dtype=torch.uint8)
    pred = torch.full((1, 2, 2), 0.6)
    low, high = CorrelationIoU(threshold=0.5), CorrelationIoU(threshold=0.7)
    for m in (low, high):
        m.process(None, [_sample(pred, true)])
    assert low.compute_metrics(low.results)['iou'] == pytest.approx(100)
    assert high.compute_metrics(high.results)['iou'] == pytest.approx(0)


def test_missing_prediction_is_a_clear_error():
    metric = CorrelationIoU()
    with pytest.raises(KeyError, match='pred_corr_maps'):
        metric.process(None, [dict(corr_maps=torch.zeros(1, 2, 2))])


def test_invalid_threshold_is_refused():
    with pytest.raises(ValueError, match='threshold'):
        CorrelationIoU(threshold=1.0)
