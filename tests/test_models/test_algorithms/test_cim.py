import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def _build(cfg):
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _randomize(module, seed):
    """Distinct random values in every parameter and float buffer."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))


def test_config_built_cim_gives_finite_loss_and_probability_maps(
        tiny_cim_cfg, make_batch):
    model = _build(tiny_cim_cfg())
    inputs, data_samples = make_batch()
    losses = model(inputs, data_samples, mode='loss')
    assert set(losses) == {'loss'} and torch.isfinite(losses['loss'])

    model.eval()
    predictions = model(inputs, data_samples, mode='predict')
    assert len(predictions) == 2 and isinstance(predictions[0], DataSample)
    probs = torch.stack([p.pred_corr_maps for p in predictions])
    assert probs.shape == (2, 3, 160, 160) and probs.dtype == torch.float32
    assert probs.min() >= 0 and probs.max() <= 1


def test_tensor_mode_returns_online_backbone_features(tiny_cim_cfg):
    model = _build(tiny_cim_cfg())
    model.eval()
    images = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(
        model(images)[-1], model.backbone(images)[-1])


def test_target_starts_as_exact_copy_of_initialized_online(tiny_cim_cfg):
    model = _build(tiny_cim_cfg())
    online = model.backbone.state_dict()
    for name, value in model.target_backbone.state_dict().items():
        assert torch.equal(value, online[name]), name
    assert not any(p.requires_grad for p in model.target_backbone.parameters())


def test_no_gradient_reaches_the_target_encoder(tiny_cim_cfg, make_batch):
    model = _build(tiny_cim_cfg())
    model(*make_batch(), mode='loss')['loss'].backward()
    for name, param in model.target_backbone.named_parameters():
        assert param.grad is None and not param.requires_grad, name
    for name, param in model.backbone.named_parameters():
        if name.startswith('patch_embed') or name == 'pos_embed':
            assert param.grad is None and not param.requires_grad, name
        else:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in model.neck.parameters())


@pytest.mark.parametrize('bootstrap, context_grad, exemplar_grad', [
    ('online_exemplar', False, True),
    ('online_context', True, False),
    ('shared', True, True),
])
def test_bootstrap_mode_decides_which_view_gets_gradient(
        tiny_cim_cfg, make_batch, bootstrap, context_grad, exemplar_grad):
    model = _build(tiny_cim_cfg(bootstrap=bootstrap))
    assert (model.target_backbone is None) == (bootstrap == 'shared')
    inputs, data_samples = make_batch()
    for image in inputs:
        image.requires_grad_(True)
    model(inputs, data_samples, mode='loss')['loss'].backward()
    assert (inputs[0].grad is not None) == context_grad
    assert all((x.grad is not None) == exemplar_grad for x in inputs[1:])


@pytest.mark.parametrize('bootstrap, online_sizes, target_sizes', [
    ('online_exemplar', [6], [2]),
    ('online_context', [2], [6]),
    ('shared', [2, 6], None),
])
def test_context_is_encoded_once_per_image(tiny_cim_cfg, make_batch,
                                           bootstrap, online_sizes,
                                           target_sizes):
    model = _build(tiny_cim_cfg(bootstrap=bootstrap))
    calls = {'online': [], 'target': []}

    def record(key):
        return lambda m, args, out: calls[key].append(args[0].shape[0])

    model.backbone.register_forward_hook(record('online'))
    if model.target_backbone is not None:
        model.target_backbone.register_forward_hook(record('target'))
    model(*make_batch(batch_size=2, num_exemplars=3), mode='loss')
    assert calls['online'] == online_sizes
    assert calls['target'] == (target_sizes or [])


def test_exemplars_are_stacked_sample_major(tiny_cim_cfg, make_batch):
    model = _build(tiny_cim_cfg())
    seen = {}
    model.backbone.register_forward_hook(
        lambda m, args, out: seen.update(images=args[0]))
    inputs, data_samples = make_batch(batch_size=2, num_exemplars=3)
    model(inputs, data_samples, mode='loss')
    assert torch.equal(seen['images'][4], inputs[1 + 1][1])  # b1, e1


def test_update_target_is_ema_except_shared_keys(tiny_cim_cfg):
    model = _build(tiny_cim_cfg())
    _randomize(model.backbone, 0)
    _randomize(model.target_backbone, 1)
    online = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    before = {
        k: v.clone()
        for k, v in model.target_backbone.state_dict().items()
    }
    model.update_target(0.9)
    after = model.target_backbone.state_dict()
    for name in ('cls_token', 'pos_embed'):
        assert torch.equal(after[name], online[name])
    for name in ('layers.0.attn.qkv.weight', 'ln1.bias',
                 'patch_embed.projection.weight'):
        torch.testing.assert_close(after[name],
                                   0.9 * before[name] + 0.1 * online[name])
        assert not torch.allclose(after[name], online[name])


@pytest.mark.parametrize('momentum', [0., 1.])
def test_update_target_extremes_copy_or_keep_exactly(tiny_cim_cfg, momentum):
    model = _build(tiny_cim_cfg())
    _randomize(model.backbone, 0)
    _randomize(model.target_backbone, 1)
    expected = model.backbone if momentum == 0 else model.target_backbone
    expected = {k: v.clone() for k, v in expected.state_dict().items()}
    if momentum == 1:  # shared keys are copied whatever the momentum
        for name in ('cls_token', 'pos_embed'):
            expected[name] = model.backbone.state_dict()[name].clone()
    model.update_target(momentum)
    for name, value in model.target_backbone.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_update_target_copies_buffers(resnet_cim_cfg):
    model = _build(resnet_cim_cfg)
    _randomize(model.backbone, 0)
    model.backbone.bn1.num_batches_tracked.fill_(7)
    model.update_target(0.99)
    online = dict(model.backbone.named_buffers())
    for name, buffer in model.target_backbone.named_buffers():
        assert torch.equal(buffer, online[name]), name


def test_update_target_builds_its_lists_once_with_the_same_arithmetic(
        tiny_cim_cfg, monkeypatch):
    model = _build(tiny_cim_cfg())
    _randomize(model.backbone, 0)
    _randomize(model.target_backbone, 1)
    online = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    target = {k: v.clone()
              for k, v in model.target_backbone.state_dict().items()}
    calls = []  # named_buffers walks the module tree only to build lists
    original = type(model.target_backbone).named_buffers
    monkeypatch.setattr(
        type(model.target_backbone), 'named_buffers',
        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    for momentum in (0.9, 0.5, 0.99):
        model.update_target(momentum)
        for name, value in target.items():
            if name not in ('cls_token', 'pos_embed'):
                value.lerp_(online[name], 1 - momentum)
    assert len(calls) == 2  # the first call, both backbones' names
    for name, value in model.target_backbone.state_dict().items():
        expected = online[name] if name in ('cls_token',
                                            'pos_embed') else target[name]
        torch.testing.assert_close(value, expected, rtol=0, atol=0)


@pytest.mark.parametrize('momentum', [0.9, 0.])
def test_update_target_with_a_skip_flag_keeps_or_averages_exactly(
        tiny_cim_cfg, momentum):
    """skip (a device tensor, NonFiniteGuardHook's verdict): 1 keeps the
    averaged parameters bit for bit; 0 is the unmasked update, bit for
    bit; the shared keys are copied either way."""
    model = _build(tiny_cim_cfg())
    _randomize(model.backbone, 0)
    _randomize(model.target_backbone, 1)
    twin = copy.deepcopy(model)
    before = {k: v.clone()
              for k, v in model.target_backbone.state_dict().items()}
    online = model.backbone.state_dict()
    model.update_target(momentum, skip=torch.tensor(1.))
    for name, value in model.target_backbone.state_dict().items():
        shared = name in ('cls_token', 'pos_embed')
        assert torch.equal(value, online[name] if shared else before[name])
    model.update_target(momentum, skip=torch.tensor(0.))
    twin.update_target(momentum)
    for name, value in model.target_backbone.state_dict().items():
        assert torch.equal(value, twin.target_backbone.state_dict()[name])


def test_update_target_follows_replaced_parameters(tiny_cim_cfg):
    """to() with overwrite_module_params_on_conversion replaces every
    parameter object: the next update must use the new ones."""
    model = _build(tiny_cim_cfg())
    model.update_target(0.9)
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        model.double()
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(False)
    _randomize(model.backbone, 0)
    model.update_target(0.)
    for name, value in model.target_backbone.state_dict().items():
        assert torch.equal(value, model.backbone.state_dict()[name]), name


def test_update_target_is_a_noop_without_target(tiny_cim_cfg):
    model = _build(tiny_cim_cfg(bootstrap='shared'))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.update_target(0.)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


@pytest.mark.parametrize(
    'paramwise_cfg', [None, dict(norm_decay_mult=0., bias_decay_mult=0.)])
def test_optimizer_step_leaves_target_and_frozen_params_untouched(
        tiny_cim_cfg, make_batch, paramwise_cfg):
    model = _build(tiny_cim_cfg())
    cfg = dict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05))
    if paramwise_cfg:
        cfg['paramwise_cfg'] = paramwise_cfg
    optim_wrapper = build_optim_wrapper(model, cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optim_wrapper.update_params(model(*make_batch(), mode='loss')['loss'])
    after = model.state_dict()
    for name, value in after.items():
        frozen = name.startswith(('target_backbone.', 'backbone.patch_embed',
                                  'backbone.pos_embed'))
        assert torch.equal(value, before[name]) == frozen, name


def test_resnet_cim_trains_one_step_on_feature_maps(resnet_cim_cfg,
                                                   make_batch):
    model = _build(resnet_cim_cfg)
    loss = model(*make_batch(), mode='loss')['loss']
    assert torch.isfinite(loss)
    loss.backward()
    assert model.backbone.conv1.weight.grad is not None
    assert model.target_backbone.conv1.weight.grad is None


def test_invalid_bootstrap_is_rejected(tiny_cim_cfg):
    with pytest.raises(ValueError, match='bootstrap'):
        MODELS.build(tiny_cim_cfg(bootstrap='ema'))


@pytest.fixture
def resnet_cim_cfg(tiny_cim_cfg):
    return tiny_cim_cfg(
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
        neck=dict(
            type='CorrelationDecoder',
            in_channels=512,
            embed_dim=32,
            num_heads=2,
            out_size=160))
