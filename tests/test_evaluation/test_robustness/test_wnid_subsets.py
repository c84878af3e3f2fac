"""cim_mm.evaluation.robustness.wnids: the ImageNet-1K class order and
predictions restricted to the classes present."""
import pytest
import torch

from cim_mm.datasets import IMAGENET200_WNIDS
from cim_mm.datasets.imagenet_subset import read_wnids
from cim_mm.evaluation.robustness import (class_indices, imagenet1k_wnids,
                                          predict_in_subset, wnid_to_index)


def test_the_1000_wnids_in_sorted_order():
    wnids = imagenet1k_wnids()
    assert len(wnids) == 1000 and list(wnids) == sorted(set(wnids))
    assert wnids[0] == 'n01440764' and wnids[999] == 'n15075141'
    index = wnid_to_index()
    assert index['n01443537'] == 1 and index['n02085620'] == 151
    # the project's ImageNet-200 classes are all among them
    assert set(read_wnids(IMAGENET200_WNIDS)) <= set(wnids)


def test_class_indices_are_sorted_and_checked():
    assert class_indices(['n15075141', 'n01440764', 'n01443537']) == \
        [0, 1, 999]
    with pytest.raises(ValueError, match=r"in IN-R .*\['cat'\].*WordNet"):
        class_indices(['n01440764', 'cat'], where='IN-R')


def test_predictions_use_exactly_the_present_classes():
    logits = torch.zeros(3, 1000)
    logits[:, 7] = 10  # the best class overall, absent from the subset
    logits[0, 2], logits[0, 999] = 3, 4
    logits[1, 2], logits[1, 999] = 5, 4
    logits[2, 500] = 9  # absent as well
    subset = [2, 999]
    assert predict_in_subset(logits).tolist() == [7, 7, 7]
    assert predict_in_subset(logits, subset).tolist() == [999, 2, 2]
    # every prediction is one of the subset's ImageNet-1K indices
    random = torch.randn(50, 1000)
    picked = predict_in_subset(random, subset)
    assert set(picked.tolist()) <= set(subset)
    expected = torch.tensor(subset)[random[:, subset].argmax(1)]
    assert torch.equal(picked, expected)
