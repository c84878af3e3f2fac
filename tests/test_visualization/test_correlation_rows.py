"""correlation_rows: exemplar | true map | predicted map, one row each."""
import numpy as np
import torch

from cim_mm.visualization import correlation_rows


def test_layout_and_panels():
    m, n, batch, num = 16, 8, 2, 3
    contexts = torch.zeros(batch, 3, m, m)
    contexts[:, 2] = 255  # red in BGR
    exemplars = [torch.full((batch, 3, n, n), 40.0 * k) for k in range(num)]
    true = torch.zeros(batch, num, m, m)
    true[:, :, :4, :4] = 1
    pred = torch.rand(batch, num, m, m, generator=torch.Generator()
                      .manual_seed(0))
    image = correlation_rows(contexts, exemplars, true, pred,
                             exemplars_per_pair=2, gap=2)
    assert image.dtype == np.uint8
    assert image.shape == (4 * (m + 2) - 2, 3 * m + 4, 3)
    # Row 1 (pair 0, exemplar 1): the exemplar panel is its grey value.
    row1 = image[m + 2:2 * m + 2]
    assert (row1[:, :m] == 40).all()
    # White gaps between panels and rows.
    assert (image[:, m:m + 2] == 255).all()
    assert (image[m:m + 2] == 255).all()
    # The true map's region differs from the rest of its panel.
    panel = image[:m, m + 2:2 * m + 2].astype(int)
    assert np.abs(panel[:4, :4].mean(axis=(0, 1)) -
                  panel[8:, 8:].mean(axis=(0, 1))).sum() > 30
