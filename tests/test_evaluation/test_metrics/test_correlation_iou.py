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
    # Prediction 0 against map 1 (4 of 6+8-4 overlap), prediction 1 (all)
    # against map 0: 4 / 16.
    assert out['wrong_exemplar_iou'] == pytest.approx(
        (4 / 10 + 4 / 16) / 2 * 100)


def test_a_prediction_that_ignores_the_exemplar_scores_the_same_on_the_wrong_one():
    true = torch.zeros(3, 8, 8, dtype=torch.uint8)
    true[0, 2:6, 2:6] = 1
    true[1, 1:5, 3:7] = 1
    true[2, 3:7, 1:5] = 1
    blob = torch.zeros(3, 8, 8)
    blob[:, 2:6, 2:6] = 1.0        # the same central blob for each exemplar
    exact = true.float()           # a perfect, exemplar-specific prediction
    scores = []
    for pred in (blob, exact):
        m = CorrelationIoU()
        m.process(None, [_sample(pred, true)])
        scores.append(m.compute_metrics(m.results))
    assert scores[0]['iou'] == pytest.approx(scores[0]['wrong_exemplar_iou'])
    assert scores[1]['iou'] == pytest.approx(100)
    assert scores[1]['wrong_exemplar_iou'] < 50


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
