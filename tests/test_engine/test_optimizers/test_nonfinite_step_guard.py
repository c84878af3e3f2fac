import math

import pytest
import torch
import torch.nn as nn

from cim_mm.engine.optimizers import NonFiniteStepGuard, supports_found_inf

pytestmark = pytest.mark.usefixtures('one_torch_thread')


class LossModel(nn.Module):
    """A linear layer whose forward returns mmengine-style losses; ``extra``
    is added to the loss as a constant (no gradient)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x, extra=0.0):
        return dict(loss=self.linear(x).pow(2).mean() + extra, acc=x.sum())


def _state(model, optimizer):
    """Copies of the weights and of every optimizer state tensor."""
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    states = {(n, k): v.clone() if torch.is_tensor(v) else v
              for n, p in model.named_parameters()
              for k, v in optimizer.state.get(p, {}).items()}
    return params, states


def _step(model, optimizer, guard, x, extra=0.0):
    losses = model(x, extra)
    losses['loss'].backward()
    optimizer.step()
    optimizer.zero_grad()
    return guard.end_step()


def _assert_same(a, b):
    assert a[0].keys() == b[0].keys() and a[1].keys() == b[1].keys()
    for part_a, part_b in zip(a, b):
        for key in part_a:
            assert torch.equal(part_a[key], part_b[key]), key


@pytest.mark.parametrize('fused', [True, False], ids=['device', 'host'])
@pytest.mark.parametrize('bad', ['nan_input', 'inf_loss_finite_grads'])
def test_a_non_finite_step_changes_neither_weights_nor_optimizer_state(
        fused, bad):
    torch.manual_seed(0)
    model = LossModel()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, fused=fused)
    guard = NonFiniteStepGuard()
    guard.attach(model, optimizer)
    assert guard.device_mode is fused
    x = torch.randn(4, 3)
    skipped, step_skipped = _step(model, optimizer, guard, x)
    assert skipped.item() == 0 and step_skipped.item() == 0
    before = _state(model, optimizer)
    assert before[1][('linear.weight', 'step')].item() == 1
    if bad == 'nan_input':
        skipped, _ = _step(model, optimizer, guard, x * math.nan)
    else:  # the loss is Inf, its gradients are finite
        skipped, _ = _step(model, optimizer, guard, x, extra=math.inf)
    assert skipped.item() == 1
    _assert_same(before, _state(model, optimizer))
    assert not hasattr(optimizer, 'found_inf')  # cleaned up
    skipped, _ = _step(model, optimizer, guard, x)  # training goes on
    assert skipped.item() == 0
    after = _state(model, optimizer)
    assert after[1][('linear.weight', 'step')].item() == 2
    assert not torch.equal(after[0]['linear.weight'],
                           before[0]['linear.weight'])


def test_the_loss_of_every_accumulated_micro_batch_counts():
    model = LossModel()
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    guard = NonFiniteStepGuard()
    guard.attach(model, optimizer)
    x = torch.randn(4, 3)
    model(x, extra=math.inf)['loss'].backward()  # finite gradients
    model(x)['loss'].backward()
    optimizer.step()
    assert guard.end_step()[0].item() == 1
    assert guard.end_step() == (None, None)  # cleared


def test_a_loss_scalers_found_inf_is_combined_and_restored():
    """Under GradScaler (found_inf set before step()): the guard checks the
    loss only, hands the optimizer the larger flag and puts the scaler's
    back for it to delete."""
    model = LossModel()
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    guard = NonFiniteStepGuard()
    guard.attach(model, optimizer)
    x = torch.randn(4, 3)
    seen = []
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: seen.append(opt.found_inf.clone()))
    for scaler_flag, extra, expected in ((1.0, 0.0, (0, 1)),
                                         (0.0, math.inf, (1, 1)),
                                         (0.0, 0.0, (0, 0))):
        scaler_found_inf = torch.tensor(scaler_flag)
        optimizer.found_inf = scaler_found_inf
        model(x, extra)['loss'].backward()  # finite gradients
        optimizer.step()
        assert optimizer.found_inf is scaler_found_inf
        del optimizer.found_inf
        optimizer.zero_grad()
        skipped, step_skipped = guard.end_step()
        assert (skipped.item(), step_skipped.item()) == expected
        assert seen[-1].item() == expected[1]


def test_predictions_and_losses_without_loss_keys_are_ignored():
    guard = NonFiniteStepGuard()
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    guard.attach(model, optimizer)
    model(torch.full((1, 3), math.nan))  # a tensor output: not a loss dict
    assert guard._loss_ok is None
    guard.detach()
    model(torch.randn(1, 3)).sum().backward()
    optimizer.step()  # hooks removed
    assert guard.end_step() == (None, None)


def test_supports_found_inf_is_the_fused_optimizers():
    params = [nn.Parameter(torch.zeros(2))]
    assert supports_found_inf(torch.optim.AdamW(params, fused=True))
    assert supports_found_inf(torch.optim.SGD(params, lr=0.1, fused=True))
    assert not supports_found_inf(torch.optim.AdamW(params))
    assert not supports_found_inf(torch.optim.AdamW(params, foreach=True))
    # a resume from a run without fused: its groups come back unfused
    fused = torch.optim.AdamW(params, fused=True)
    fused.load_state_dict(torch.optim.AdamW(params).state_dict())
    assert not supports_found_inf(fused)


def test_a_resumed_unfused_state_falls_back_to_the_host_check():
    model = LossModel()
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    optimizer.load_state_dict(
        torch.optim.AdamW(model.parameters()).state_dict())
    guard = NonFiniteStepGuard()
    guard.attach(model, optimizer)
    assert not guard.device_mode
    x = torch.randn(4, 3)
    _step(model, optimizer, guard, x)
    before = _state(model, optimizer)
    assert _step(model, optimizer, guard, x * math.nan)[0].item() == 1
    _assert_same(before, _state(model, optimizer))


def test_attaching_twice_is_refused():
    model = LossModel()
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    guard = NonFiniteStepGuard()
    guard.attach(model, optimizer)
    with pytest.raises(RuntimeError, match='already attached'):
        guard.attach(model, optimizer)
