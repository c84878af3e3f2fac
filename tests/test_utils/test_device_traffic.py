"""DeviceTrafficCounter counts what makes the host wait for the device and
what crosses between them, on fake CUDA tensors (no GPU needed)."""
import torch

from cim_mm.utils.device_traffic import DeviceTrafficCounter, fake_cuda


def counted(fn):
    with fake_cuda():
        x = torch.arange(12.).reshape(3, 4).to('cuda')
        with DeviceTrafficCounter() as traffic:
            fn(x)
    return traffic


def test_data_dependent_calls_are_syncs_and_answered():
    traffic = counted(lambda x: (
        (x > 2).nonzero(), x.sum().item(), x[x > 1], x.masked_select(x > 0)))
    assert traffic.syncs == 4 and traffic.copies == 0, traffic.report()
    assert [e.op for e in traffic.events] == [
        'nonzero', '_local_scalar_dense', 'index[mask]', 'masked_select']


def test_copies_in_both_directions_and_host_index_lists():
    traffic = counted(lambda x: (x.cpu(), torch.ones(3).to('cuda'),
                                 x[:, [2, 1, 0]]))
    kinds = [(e.kind, e.op) for e in traffic.events]
    assert ('copy', '_to_copy') in kinds and ('sync', '_to_copy') in kinds
    assert traffic.copies == 3, traffic.report()  # d2h, h2d, index list
    assert traffic.syncs == 1  # the device-to-host copy


def test_device_only_work_and_host_scalars_are_free():
    def work(x):
        y = (x * torch.tensor(2.)).flip(1).softmax(-1)
        torch.where(y > 0.5, y, 0.).sum()
        torch.arange(5, device=x.device) + 1
        torch.ones(4).max().item()  # host-side work on host data

    traffic = counted(work)
    assert traffic.events == [], traffic.report()
    assert traffic.ops['flip'] == 1


def test_real_tensors_are_counted_not_changed():
    x = torch.arange(6.)
    with DeviceTrafficCounter() as traffic:
        index = (x > 2).nonzero()
    assert index.flatten().tolist() == [3, 4, 5]
    assert traffic.events == []  # all on the host: no device traffic


def test_fake_cuda_restores_autocast_and_module_conversion():
    before = (torch.is_autocast_enabled('cuda'),
              torch.__future__.get_overwrite_module_params_on_conversion())
    layer = torch.nn.Linear(4, 4)
    with fake_cuda(autocast_dtype=torch.bfloat16):
        assert torch.is_autocast_enabled('cuda')
        layer.to('cuda')
        out = layer(torch.ones(2, 4, device='cuda'))
        assert out.device.type == 'cuda' and out.dtype == torch.bfloat16
    assert (torch.is_autocast_enabled('cuda'),
            torch.__future__.get_overwrite_module_params_on_conversion()
            ) == before
