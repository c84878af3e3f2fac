"""cim_mm.models.utils.feature_tokens: ViT tokens (with or without a cls
token) and CNN maps read as tokens on a grid, and back."""
import pytest
import torch

from cim_mm.models.utils import (check_exemplar_count, to_tokens,
                                  tokens_to_maps)


def test_maps_become_row_major_tokens_and_back():
    maps = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    tokens, grid, num_extra = to_tokens(maps)
    assert grid == (4, 5) and num_extra == 0 and tokens.shape == (2, 20, 3)
    # token (y, x) is pixel (y, x) of every channel
    assert torch.equal(tokens[1, 2 * 5 + 3], maps[1, :, 2, 3])
    assert torch.equal(tokens_to_maps(tokens, grid), maps)


@pytest.mark.parametrize('length, grid, num_extra', [(16, (4, 4), 0),
                                                      (17, (4, 4), 1),
                                                      (1, (1, 1), 0),
                                                      (2, (1, 1), 1)])
def test_token_counts_are_read_as_a_square_grid(length, grid, num_extra):
    tokens = torch.randn(2, length, 3,
                         generator=torch.Generator().manual_seed(0))
    out, got_grid, got_extra = to_tokens(tokens)
    assert out is tokens and got_grid == grid and got_extra == num_extra


def test_errors_name_the_owner_and_the_problem():
    with pytest.raises(ValueError, match='MyNeck: cannot read 7 tokens'):
        to_tokens(torch.zeros(1, 7, 2), 'MyNeck')
    with pytest.raises(ValueError,
                       match=r'MyNeck: features must be .*\(3, 4\)'):
        to_tokens(torch.zeros(3, 4), 'MyNeck')


def test_exemplar_count_is_k_per_context():
    check_exemplar_count(2, 3, 6, 'MyNeck')
    with pytest.raises(ValueError,
                       match='MyNeck: expected 2 x 3 exemplars, got 5'):
        check_exemplar_count(2, 3, 5, 'MyNeck')
