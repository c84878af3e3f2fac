"""The demo's picture: one row per shown exemplar (uint8 or integer-valued
float pixels), a clear error for batches of search images."""
import pytest
import torch
from mmpretrain.structures import DataSample

from cim_mm.visualization import draw_correlation_grid


def predictions(batch, num, size):
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_data(dict(
            corr_maps=torch.randint(0, 2, (num, size, size),
                                    dtype=torch.uint8, generator=gen),
            pred_corr_maps=torch.rand(num, size, size, generator=gen)))
        samples.append(sample)
    return samples


def test_draws_a_png_of_pairs_and_maps(tmp_path):
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8,
                            generator=gen)] + [
        torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8,
                      generator=gen) for _ in range(3)
    ]
    out = tmp_path / 'grid.png'
    draw_correlation_grid(inputs, predictions(2, 3, 32), str(out))
    assert out.stat().st_size > 1000
    as_float = tmp_path / 'float.png'
    draw_correlation_grid([x.float() for x in inputs], predictions(2, 3, 32),
                          str(as_float))
    assert as_float.read_bytes() == out.read_bytes()


def test_search_only_batch_is_refused_with_the_fix(tmp_path):
    search = [torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)]
    with pytest.raises(ValueError, match='build_pairs'):
        draw_correlation_grid(search, predictions(2, 3, 32),
                              str(tmp_path / 'grid.png'))
