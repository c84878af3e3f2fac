"""TrackerHead: the targets the Table 4 trackers derive from the corners."""
import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from cim_mm.models.heads import TrackerHead
from cim_mm.models.heads.tracker_head import (box_maps, centred_grid_origin,
                                              enclosing_boxes, region_maps)

# A square of side 20 * sqrt(2) turned by 45 degrees, centred at (53, 70):
# corners top, right, bottom, left; |x - 53| + |y - 70| <= 20 inside.
DIAMOND = torch.tensor([[53., 50.], [73., 70.], [53., 90.], [33., 70.]])


def _sample(corners, context_size=160):
    sample = DataSample(metainfo=dict(img_shape=(context_size,
                                                 context_size)))
    sample.set_data(dict(exemplar_corners=corners))
    return sample


def test_enclosing_box_of_a_turned_square_is_its_diagonal_extent():
    box = enclosing_boxes(DIAMOND)
    torch.testing.assert_close(box, torch.tensor([33., 50., 73., 90.]))


def test_enclosing_box_of_a_rotated_rectangle_matches_the_hand_computation():
    # 40 x 20 rectangle centred at (80, 60), turned by 30 degrees
    angle, (cx, cy), (w, h) = np.deg2rad(30), (80., 60.), (40., 20.)
    axis_x = np.array([np.cos(angle), np.sin(angle)]) * w
    axis_y = np.array([-np.sin(angle), np.cos(angle)]) * h
    top_left = np.array([cx, cy]) - (axis_x + axis_y) / 2
    corners = torch.tensor(np.stack([top_left, top_left + axis_x,
                                     top_left + axis_x + axis_y,
                                     top_left + axis_y]), dtype=torch.float32)
    half_w = w / 2 * np.cos(angle) + h / 2 * np.sin(angle)  # 22.3205
    half_h = w / 2 * np.sin(angle) + h / 2 * np.cos(angle)  # 18.6603
    expected = torch.tensor([cx - half_w, cy - half_h, cx + half_w,
                             cy + half_h], dtype=torch.float32)
    torch.testing.assert_close(enclosing_boxes(corners), expected)


def test_box_and_region_maps_label_cells_by_their_centre():
    # 10 x 10 tokens of 16 px: centres 8, 24, 40, ... 152
    labels = box_maps(torch.tensor([33., 50., 73., 90.]), 10, stride=16)
    rows, cols = torch.nonzero(labels, as_tuple=True)
    assert set(rows.tolist()) == {3, 4, 5} and set(cols.tolist()) == {2, 3, 4}
    assert labels.sum() == 9
    # the diamond on a 7 x 7 grid centred on a 160 px context (centres 32 ..
    # 128): (48, 64), (64, 64) and (48, 80) lie inside
    origin = centred_grid_origin(160, 16, 7)
    assert origin == 24
    region = region_maps(DIAMOND, 7, origin, 16)
    assert torch.nonzero(region).tolist() == [[2, 1], [2, 2], [3, 1]]


def test_exemplar_corners_reads_samples_and_names_what_is_missing():
    corners, size = TrackerHead.exemplar_corners(
        [_sample(DIAMOND[None]), _sample(DIAMOND[None] + 1)])
    assert corners.shape == (2, 1, 4, 2) and size == 160
    with pytest.raises(KeyError, match='exemplar_corners'):
        TrackerHead.exemplar_corners([DataSample()])
    bare = DataSample()
    bare.set_data(dict(exemplar_corners=DIAMOND[None]))
    with pytest.raises(KeyError, match='img_shape'):
        TrackerHead.exemplar_corners([bare])
