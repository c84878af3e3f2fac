"""The demo's picture: one row per shown exemplar, a clear error for
search-only batches (pixels built on the device)."""
import pytest
import torch
from mmpretrain.structures import DataSample

from cim_mm.visualization import draw_correlation_grid


def predictions(batch, num, size):
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_data(dict(
            corr_maps=torch.randint(0, 2, (num, size, size),
                                    dtype=torch.uint8),
            pred_corr_maps=torch.rand(num, size, size)))
        samples.append(sample)
    return samples


def test_draws_a_png_of_pairs_and_maps(tmp_path):
    inputs = [torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)] + [
        torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
        for _ in range(3)
    ]
    out = tmp_path / 'grid.png'
    draw_correlation_grid(inputs, predictions(2, 3, 32), str(out))
    assert out.stat().st_size > 1000


def test_search_only_batch_is_refused_with_the_fix(tmp_path):
    search = [torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)]
    with pytest.raises(ValueError, match="pixels='worker'"):
        draw_correlation_grid(search, predictions(2, 3, 32),
                              str(tmp_path / 'grid.png'))
