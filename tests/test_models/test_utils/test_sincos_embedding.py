"""The device-built sin-cos table is mmpretrain's, value for value."""
import pytest
import torch
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from cim_mm.models.utils.sincos_embedding import sincos_position_embedding


@pytest.mark.parametrize('grid, dims, cls_token', [((10, 10), 512, True),
                                                   ((4, 6), 128, False),
                                                   ((14, 14), 768, True)])
def test_equals_mmpretrains_table(grid, dims, cls_token):
    expected = build_2d_sincos_position_embedding(grid, dims,
                                                  cls_token=cls_token)
    actual = sincos_position_embedding(grid, dims, cls_token)
    assert actual.shape == expected.shape
    assert torch.equal(actual, expected)


def test_built_on_the_device_without_copies():
    from cim_mm.utils.device_traffic import DeviceTrafficCounter, fake_cuda
    with fake_cuda():
        with DeviceTrafficCounter() as traffic:
            table = sincos_position_embedding((10, 10), 512, True, 'cuda',
                                              torch.bfloat16)
    assert table.device.type == 'cuda' and table.dtype == torch.bfloat16
    assert traffic.events == [], traffic.report()


def test_dims_must_be_a_multiple_of_4():
    with pytest.raises(ValueError, match='multiple of 4'):
        sincos_position_embedding((2, 2), 6)
