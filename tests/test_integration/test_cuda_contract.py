"""The GPU training step's contract, checked on a machine without GPU.

The shipped ViT-B config's step (pairs built on the GPU by
``CIMDataPreprocessor``) runs under torch's ``FakeTensorMode`` on device
``'cuda'`` with CUDA bf16 autocast on: the config's own pipeline on real
image files, its ``collate_fn``, then ``model.data_preprocessor(batch, True)`` and
``model(**data, mode='loss')``, with :class:`DeviceTrafficCounter` counting
host-device syncs and cross-device copies.

What fake tensors check: devices (a host tensor meeting a device tensor in
an op raises, as on a GPU), dtypes under autocast, shapes, and every aten
call the step makes (so every sync and copy it asks for). What they
cannot: kernels and their numerics, timing, the CUDA runtime's own syncs
(allocator, NCCL), the backward (the autograd engine runs CUDA backward
ops on its own device thread, outside the dispatch mode), and mmengine's
per-iteration syncs in the optim wrapper and message hub (out of scope).

The guard against non-finite steps (``NonFiniteGuardHook``) is held to the
same contract: its loss check, the fused AdamW step it masks and the EMA
update it masks add no sync; its flags cross to the host once per
``interval`` iterations.
"""
import functools
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import FUNCTIONS, DefaultScope
from PIL import Image

import cim_mm  # noqa: F401
from cim_mm.engine.hooks import NonFiniteGuardHook, TargetEMAHook
from cim_mm.utils.device_traffic import DeviceTrafficCounter, fake_cuda
from mmpretrain.registry import MODELS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VITB = osp.join(REPO, 'configs', 'cim_vitb_300e.py')
DEMO = osp.join(REPO, 'configs', 'cim_demo.py')
TRACKERS = [
    osp.join(REPO, 'configs', 'ablations', f'cim_vitb_300e_in200_{name}.py')
    for name in ('siamfc', 'siamrpn', 'transt')
]
#: Per step: the search images and the three pair-parameter batch tensors.
MAX_COPIES = 8


@pytest.fixture(scope='module')
def image_files(tmp_path_factory):
    """Real photos of different sizes as JPEG files (LoadCheckedImage)."""
    root = tmp_path_factory.mktemp('contract_images')
    paths = []
    for name in ('astronaut', 'chelsea', 'coffee', 'rocket'):
        path = root / f'{name}.jpg'
        Image.fromarray(getattr(skimage.data, name)()).save(path)
        paths.append(str(path))
    return paths


def device_batch(cfg, files, batch_size):
    """``batch_size`` samples through the config's own train pipeline with
    and its collate_fn (the pixels are left to the device)."""
    loader = cfg.train_dataloader
    steps = [dict(step) for step in loader.dataset.pipeline]
    pipeline = Compose([TRANSFORMS.build(step) for step in steps])
    collate_cfg = dict(loader.collate_fn)
    collate = functools.partial(
        FUNCTIONS.get(collate_cfg.pop('type')), **collate_cfg)
    return collate([
        pipeline(dict(img_path=files[i % len(files)], sample_idx=i))
        for i in range(batch_size)
    ])


def fake_cuda_steps(config, files, batch_sizes):
    """Per batch size: the preprocessor's and the loss forward's counters,
    their outputs, the neck's output dtype and that of the first block's
    qkv projection."""
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    model.init_weights()
    batches = {b: device_batch(cfg, files, b) for b in batch_sizes}
    neck_dtypes, qkv_dtypes = [], []
    model.neck.register_forward_hook(
        lambda module, args, out: neck_dtypes.append(
            out.dtype if torch.is_tensor(out) else None))
    model.backbone.layers[0].attn.qkv.register_forward_hook(
        lambda module, args, out: qkv_dtypes.append(out.dtype))
    results = {}
    with fake_cuda(autocast_dtype=torch.bfloat16):
        model.to('cuda')
        model.train()
        for batch_size, batch in batches.items():
            with DeviceTrafficCounter() as pre:
                data = model.data_preprocessor(batch, True)
            with DeviceTrafficCounter() as step:
                losses = model(**data, mode='loss')
            results[batch_size] = dict(
                pre=pre, step=step, data=data, losses=losses,
                neck_dtype=neck_dtypes[-1], qkv_dtype=qkv_dtypes[-1])
    return results


@pytest.fixture(scope='module')
def vitb_steps(image_files):
    return fake_cuda_steps(VITB, image_files, (4, 8))


def test_preprocessor_and_loss_make_no_host_device_sync(vitb_steps):
    for batch_size, result in vitb_steps.items():
        for part in ('pre', 'step'):
            counter = result[part]
            assert counter.syncs == 0, (
                f'batch {batch_size}, {part}: {counter.syncs} syncs:\n'
                + counter.report('sync'))


def test_copies_per_step_do_not_grow_with_the_batch(vitb_steps):
    copies = {b: r['pre'].copies + r['step'].copies
              for b, r in vitb_steps.items()}
    assert copies[4] == copies[8] <= MAX_COPIES, '\n'.join(
        vitb_steps[b][p].report('copy') for b in copies for p in ('pre',
                                                                   'step'))
    # Only the batch's own tensors cross, host to device, once each.
    assert all('cpu->cuda' in e.detail
               for e in vitb_steps[8]['pre'].events)
    assert vitb_steps[8]['step'].copies == 0


def test_every_output_is_on_the_device_and_the_loss_fp32(vitb_steps):
    for batch_size, result in vitb_steps.items():
        data = result['data']
        assert len(data['inputs']) == 1 + 6
        assert all(x.device.type == 'cuda' and x.dtype == torch.float32
                   for x in data['inputs'])
        assert data['inputs'][0].shape == (batch_size, 3, 160, 160)
        assert data['inputs'][1].shape == (batch_size, 3, 64, 64)
        for sample in data['data_samples']:
            # Every per-sample field the heads, hooks and metrics read.
            assert set(sample.keys()) == {
                'corr_maps', 'exemplar_corners', 'exemplar_flipped',
                'exemplar_augmentation'}
            for key in sample.keys():
                assert sample.get(key).device.type == 'cuda', key
            assert sample.corr_maps.shape == (6, 160, 160)
            assert sample.corr_maps.dtype == torch.uint8
        loss = result['losses']['loss']
        assert loss.device.type == 'cuda' and loss.dtype == torch.float32


def test_upsampled_logits_are_fp32_under_bf16_autocast(vitb_steps):
    assert torch.is_autocast_enabled('cuda') is False  # restored
    for result in vitb_steps.values():
        assert result['neck_dtype'] == torch.float32


def test_autocast_really_was_on_in_the_backbone(vitb_steps):
    """The check above is not vacuous: the backbone's matmuls ran in bf16
    under the fake-CUDA autocast."""
    for result in vitb_steps.values():
        assert result['qkv_dtype'] == torch.bfloat16


@pytest.fixture(scope='module', params=TRACKERS,
                ids=lambda p: osp.basename(p)[20:-3])
def tracker_step(request, image_files):
    return request.param, fake_cuda_steps(request.param, image_files,
                                          (4, ))[4]


def test_table4_trackers_step_on_the_device(tracker_step):
    config, result = tracker_step
    assert result['pre'].syncs == 0, result['pre'].report('sync')
    assert result['pre'].copies + result['step'].copies <= MAX_COPIES, (
        result['pre'].report('copy') + '\n' + result['step'].report('copy'))
    assert all(v.device.type == 'cuda' for v in result['losses'].values()
               if torch.is_tensor(v))


def test_table4_tracker_losses_without_sync(tracker_step):
    """Their positives are kept with torch.where, not selected by boolean
    masks (SiamRPN's anchors, TransT's tokens and its GIoU)."""
    config, result = tracker_step
    assert result['step'].syncs == 0, result['step'].report('sync')


def test_the_non_finite_guard_adds_no_sync_to_the_step(image_files):
    """The shipped runtime's guard and EMA hooks around a fused AdamW step
    (the demo config: same base runtime and schedule, a smaller encoder):
    the loss forward, the optimizer step with its guard, the guard's
    bookkeeping and the masked EMA update make no sync, except the one
    read of the flags at the guard's interval (here every 2nd iteration).
    The step is ``optimizer.step()``: mmengine's ``OptimWrapper.step``
    syncs on its own to log the clipped gradient norm."""
    cfg = Config.fromfile(DEMO)
    guard_cfg, = [h for h in cfg.custom_hooks
                  if h['type'] == 'NonFiniteGuardHook']
    guard = NonFiniteGuardHook(
        max_consecutive=guard_cfg['max_consecutive'], interval=2)
    ema = TargetEMAHook()
    model = MODELS.build(cfg.model)
    model.init_weights()
    batch = device_batch(cfg, image_files, 2)
    counters = []
    with fake_cuda(autocast_dtype=torch.bfloat16):
        model.to('cuda')
        model.train()
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        optimizer = optim_wrapper.optimizer
        assert optimizer.param_groups[0]['fused'] is True
        runner = SimpleNamespace(
            model=model, optim_wrapper=optim_wrapper, hooks=[], iter=0,
            max_iters=10, work_dir='.',
            message_hub=MessageHub.get_instance('cuda_contract_guard'))
        guard.before_train(runner)
        assert guard.guard.device_mode
        data = model.data_preprocessor(batch, True)
        for it in range(2):
            runner.iter = it
            with DeviceTrafficCounter() as counter:
                guard.before_train_iter(runner, it)
                model(**data, mode='loss')
                for param in model.parameters():
                    if param.requires_grad:
                        param.grad = torch.zeros_like(param)
                optimizer.step()
                optim_wrapper.zero_grad()
                guard.after_train_iter(runner, it)
                ema.after_train_iter(runner, it)
            counters.append(counter)
        first = optimizer.param_groups[0]['params'][0]
        assert optimizer.state[first]['step'].device.type == 'cuda'
    assert counters[0].syncs == 0, counters[0].report('sync')
    assert counters[1].syncs == 1, counters[1].report('sync')
    assert 'cuda->cpu' in counters[1].report('sync')
