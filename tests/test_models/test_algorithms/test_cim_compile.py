"""CIM(compile=...) compiles the sub-networks in place: same checkpoint
keys, same loss and gradients (Dynamo's 'eager' backend: traced, not code
generated, so the test takes seconds)."""
import pytest
import torch
from mmpretrain.registry import MODELS


@pytest.mark.slow
def test_compiled_parts_keep_keys_loss_and_gradients(tiny_cim_cfg,
                                                     make_batch):
    torch.manual_seed(0)
    plain = MODELS.build(tiny_cim_cfg())
    plain.init_weights()
    compiled = MODELS.build(tiny_cim_cfg(compile=dict(backend='eager')))
    assert list(compiled.state_dict()) == list(plain.state_dict())
    compiled.load_state_dict(plain.state_dict())
    assert compiled.backbone._compiled_call_impl is not None
    inputs, samples = make_batch()
    losses = []
    for model in (plain, compiled):
        loss = model.loss(inputs, samples)['loss']
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    for (name, a), b in zip(plain.named_parameters(),
                            compiled.parameters()):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, msg=name)
