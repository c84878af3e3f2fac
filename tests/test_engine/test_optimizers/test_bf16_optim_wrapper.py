"""BF16OptimWrapper: bf16 autocast on the parameters' device, no scaler."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

import cim_mm  # noqa: F401
from cim_mm.engine import BF16OptimWrapper


def build(type_, model):
    return OPTIM_WRAPPERS.build(
        dict(type=type_, optimizer=torch.optim.SGD(model.parameters(),
                                                   lr=0.1)))


@pytest.mark.parametrize('type_', ['BF16OptimWrapper', 'CPUAmpOptimWrapper'])
def test_forward_runs_in_bf16_and_parameters_stay_fp32(type_):
    # CPUAmpOptimWrapper: the name tools/train.py --amp picks without GPU.
    model = torch.nn.Linear(4, 2)
    wrapper = build(type_, model)
    assert isinstance(wrapper, BF16OptimWrapper)
    assert not hasattr(wrapper, 'loss_scaler')
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.ones(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().square().mean())
    assert model.weight.dtype == torch.float32
    assert model.weight.grad is None or model.weight.grad.dtype == (
        torch.float32)
    assert not torch.equal(model.weight, before)


def test_same_step_as_fp32_up_to_bf16_rounding():
    torch.manual_seed(0)
    models = [torch.nn.Linear(8, 1) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    wrappers = [
        build('BF16OptimWrapper', models[0]),
        build('OptimWrapper', models[1])
    ]
    assert type(wrappers[1]) is OptimWrapper
    x = torch.randn(32, 8)
    for model, wrapper in zip(models, wrappers):
        with wrapper.optim_context(model):
            loss = model(x).float().square().mean()
        wrapper.update_params(loss)
    # bf16 has 8 significant bits: a relative error of ~2**-8 per product
    torch.testing.assert_close(models[0].weight,
                               models[1].weight,
                               rtol=0,
                               atol=2e-2)
    assert not torch.equal(models[0].weight, models[1].weight)
