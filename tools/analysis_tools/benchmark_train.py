"""Training-step throughput, FLOPs, MFU and peak memory of pre-training
configs, side by side.

Builds each config's model and optimizer wrapper, feeds it one fixed batch
(real pairs from the offline photos for CIM, random 224x224 images for other
algorithms such as mmpretrain's MAE) so that the data pipeline is not what is
measured, and prints per config: images/s, ms/step, FLOPs per image (forward
+ backward, ``torch.utils.flop_counter.FlopCounterMode``), achieved TFLOP/s
and MFU against a square matmul measured in the same run, and peak
accelerator memory. ``--compare`` runs a second config with the same
settings in the same process and prints the ratios. Examples::

    python tools/analysis_tools/benchmark_train.py configs/cim_vitb_300e.py \\
        --batch-size 512 --iters 30 --fused-adamw \\
        --compare mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
    python tools/analysis_tools/benchmark_train.py configs/cim_vitb_300e.py \\
        --batch-size 512 --precision fp16 --profile prof.txt
    python tools/analysis_tools/benchmark_train.py configs/cim_demo.py \\
        --batch-size 16 --nonfinite-guard   # the guard's cost: with and without

Precision: ``config`` (default) is what ``tools/train.py`` would run: the
config's bf16 (``BF16OptimWrapper``) or fp16 (``AmpOptimWrapper``) on a GPU,
fp32 on a machine without GPU. ``--amp`` is fp16 on a GPU and bf16 on CPU.
"""
import argparse
import time
import warnings

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch.utils.flop_counter import FlopCounterMode

from mmpretrain.registry import MODELS, TRANSFORMS

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.compat import load_config
from cim_mm.engine.optimizers import NonFiniteStepGuard
from cim_mm.utils.device_traffic import DeviceTrafficCounter

PRECISIONS = ('config', 'fp32', 'fp16', 'bf16')
MATMUL_DTYPES = dict(fp32=torch.float32, fp16=torch.float16,
                     bf16=torch.bfloat16)
COMPILED_PARTS = ('backbone', 'target_backbone', 'neck', 'head', 'decoder')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--compare', metavar='CONFIG',
                        help='a second config measured the same way')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--iters', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--precision', choices=PRECISIONS, default='config')
    parser.add_argument('--amp', action='store_true',
                        help='fp16 AMP on a GPU, bf16 autocast on CPU')
    parser.add_argument('--bf16', action='store_true',
                        help='same as --precision bf16')
    parser.add_argument('--fused-adamw', action='store_true',
                        help='AdamW(fused=True): one kernel for all tensors')
    parser.add_argument('--nonfinite-guard', action='store_true',
                        help='the step as NonFiniteGuardHook runs it: loss '
                        'and gradient checks, the optimizer step and the EMA '
                        'update masked on the device')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile each sub-network (' +
                        ', '.join(COMPILED_PARTS) + ')')
    parser.add_argument('--matmul-size', type=int,
                        help='side of the reference matmul (default 8192 on '
                        'a GPU, 1024 on CPU)')
    parser.add_argument('--profile', metavar='FILE',
                        help='write a torch.profiler table of 3 steps')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides for CONFIG (not for --compare)')
    return parser.parse_args(argv)


def resolve_precision(args, cfg, cuda):
    """fp32 / fp16 / bf16 for this config on this machine."""
    if args.amp:
        return 'fp16' if cuda else 'bf16'
    if args.bf16:
        return 'bf16'
    if args.precision != 'config':
        return args.precision
    wrapper = cfg.optim_wrapper
    if not cuda:  # tools/train.py runs mixed-precision configs in fp32
        return 'fp32'
    if wrapper.get('type') == 'BF16OptimWrapper':
        return 'bf16'
    if wrapper.get('type') == 'AmpOptimWrapper':
        return 'bf16' if 'bfloat16' in str(wrapper.get('dtype')) else 'fp16'
    return 'fp32'


def optim_config(cfg, precision, cuda, fused):
    """The config's optimizer wrapper in ``precision``."""
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.pop('loss_scale', None)
    optim_cfg.pop('dtype', None)
    if precision == 'fp32':
        optim_cfg.type = 'OptimWrapper'
    elif precision == 'bf16':
        optim_cfg.type = 'BF16OptimWrapper'
    elif cuda:
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.loss_scale = 'dynamic'
    else:
        raise SystemExit('fp16 AMP needs a GPU; use --precision bf16 on CPU')
    if fused:
        optim_cfg.optimizer = dict(optim_cfg.optimizer, fused=True)
    return optim_cfg


def fixed_batch(cfg, batch_size):
    """One collated batch: CIM pairs from real photos, else random images."""
    if cfg.model.type != 'CIM':
        images = torch.randint(0, 256, (batch_size, 3, 224, 224),
                               dtype=torch.uint8)
        return dict(inputs=images, data_samples=None)
    from cim_mm.utils.offline_photos import skimage_photos
    pipeline = cfg.train_dataloader.dataset.pipeline
    crop, pack = TRANSFORMS.build(pipeline[1]), TRANSFORMS.build(pipeline[2])
    photos = [p if p.ndim == 3 else np.stack([p] * 3, -1)
              for p in skimage_photos().values()]
    samples = [
        pack(crop(dict(img=photos[i % len(photos)][..., ::-1].copy())))
        for i in range(batch_size)
    ]
    return default_collate(samples)


def pin(batch):
    """The batch in pinned memory (a DataLoader with pin_memory=True)."""
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory()
    if isinstance(batch, dict):
        return {key: pin(value) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(pin(value) for value in batch)
    return batch


def matmul_tflops(size, dtype, device, repeats=10):
    """TFLOP/s of a ``size``^3 matmul: the MFU reference of this run."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    for _ in range(2):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def synchronize(device):
    if device == 'cuda':
        torch.cuda.synchronize()


class Bench:
    """One config's model, optimizer wrapper and fixed batch."""

    def __init__(self, path, args, device, cfg_options=None):
        self.path = path
        cfg = load_config(path)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        cuda = device == 'cuda'
        self.precision = resolve_precision(args, cfg, cuda)
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            self.model = MODELS.build(cfg.model)
            self.model.init_weights()
            self.model.to(device).train()
            self.optim_wrapper = build_optim_wrapper(
                self.model,
                optim_config(cfg, self.precision, cuda, args.fused_adamw))
        self.guard = None
        if args.nonfinite_guard:
            self.guard = NonFiniteStepGuard()
            self.guard.attach(self.model, self.optim_wrapper.optimizer)
        self.batch = fixed_batch(cfg, args.batch_size)
        if cuda:
            self.batch = pin(self.batch)
        self.batch_size = args.batch_size
        self.device = device

    def losses(self):
        data = self.model.data_preprocessor(self.batch, training=True)
        with self.optim_wrapper.optim_context(self.model):
            losses = self.model(**data, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)

    def step(self):
        self.optim_wrapper.update_params(self.losses())
        skip = self.guard.end_step()[1] if self.guard else None
        if hasattr(self.model, 'update_target'):
            if skip is None:
                self.model.update_target(0.99)
            else:
                self.model.update_target(0.99, skip=skip)

    def flops_per_image(self):
        """Forward + backward FLOPs of one step, per image (eager)."""
        counter = FlopCounterMode(display=False)
        with counter:
            self.losses().backward()
        self.optim_wrapper.zero_grad()
        return counter.get_total_flops() / self.batch_size

    def traffic(self, steps=3):
        """Host-device syncs and cross-device copies of one step's
        preprocessor + forward (:class:`DeviceTrafficCounter`, the counts
        the fake-CUDA contract test asserts), then, on a GPU, the sync
        warnings of ``torch.cuda.set_sync_debug_mode('warn')`` over
        ``steps`` whole steps (optimizer wrapper and EMA included)."""
        with DeviceTrafficCounter() as counter:
            self.losses()
        warned = None
        if self.device == 'cuda':
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                torch.cuda.set_sync_debug_mode('warn')
                try:
                    for _ in range(steps):
                        self.step()
                    synchronize(self.device)
                finally:
                    torch.cuda.set_sync_debug_mode(0)
            warned = sum('synchroniz' in str(w.message).lower()
                         for w in caught)
        return counter, warned

    def guard_overhead(self, min_run_time=1.0):
        """The guard's own work per step, in ms (medians of
        ``torch.utils.benchmark``, interleaved on this model): the optimizer
        step with the guard's hooks (gradient check, ``found_inf``) minus
        without, and the masked EMA update minus the plain one."""
        from torch.utils.benchmark import Timer
        self.losses().backward()  # real gradients, kept for every step
        optimizer = self.optim_wrapper.optimizer

        def median_ms(fn):
            timer = Timer(stmt='fn(); sync()', globals=dict(
                fn=fn, sync=lambda: synchronize(self.device)))
            return timer.blocked_autorange(
                min_run_time=min_run_time).median * 1000

        step_with = median_ms(optimizer.step)
        self.guard.detach()
        step_without = median_ms(optimizer.step)
        self.guard.attach(self.model, optimizer)
        skip = torch.zeros((), device=self.device)
        ema = ema_masked = 0.0
        if hasattr(self.model, 'update_target'):
            ema = median_ms(lambda: self.model.update_target(0.99))
            ema_masked = median_ms(
                lambda: self.model.update_target(0.99, skip=skip))
        self.guard.end_step()
        self.optim_wrapper.zero_grad()
        return step_with - step_without, ema_masked - ema, step_without, ema

    def compile(self):
        for name in COMPILED_PARTS:
            part = getattr(self.model, name, None)
            if isinstance(part, torch.nn.Module):
                setattr(self.model, name, torch.compile(part))

    def measure(self, warmup, iters):
        for _ in range(warmup):
            self.step()
        synchronize(self.device)
        if self.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(iters):
            self.step()
        synchronize(self.device)
        seconds = time.perf_counter() - start
        peak = (torch.cuda.max_memory_allocated()
                if self.device == 'cuda' else None)
        return self.batch_size * iters / seconds, seconds / iters, peak

    def profile(self, path):
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU]
        sort_by = 'self_cpu_time_total'
        if self.device == 'cuda':
            activities.append(ProfilerActivity.CUDA)
            sort_by = 'self_cuda_time_total'
        with profile(activities=activities) as prof:
            for _ in range(3):
                self.step()
            synchronize(self.device)
        with open(path, 'a') as f:
            f.write(f'# {self.path}, {self.precision}, batch '
                    f'{self.batch_size}, 3 steps\n')
            f.write(prof.key_averages().table(sort_by=sort_by,
                                              row_limit=40))
            f.write('\n')


def run(path, args, device, reference, cfg_options=None):
    """Measure one config, print its line, return its figures."""
    bench = Bench(path, args, device, cfg_options)
    flops = bench.flops_per_image()
    counter, warned = bench.traffic()
    print(f'{path}: preprocessor + forward of one step: {counter.syncs} '
          f'host-device syncs, {counter.copies} cross-device copies'
          + ('' if warned is None else
             f'; 3 whole steps: {warned} sync warnings '
             "(torch.cuda.set_sync_debug_mode('warn'))"), flush=True)
    if counter.syncs:
        print(counter.report('sync'), flush=True)
    if args.compile:
        bench.compile()
    images_per_s, step_s, peak = bench.measure(args.warmup, args.iters)
    if bench.guard is not None:
        check, mask, step_ms, ema_ms = bench.guard_overhead()
        print(f'{path}: non-finite guard, per step: {check:+.2f} ms on the '
              f'optimizer step ({step_ms:.2f} ms without), {mask:+.2f} ms on '
              f'the EMA update ({ema_ms:.2f} ms without)', flush=True)
    if args.profile:
        bench.profile(args.profile)
    ref_tflops = reference(bench.precision)
    achieved = flops * images_per_s / 1e12
    name = torch.cuda.get_device_name() if device == 'cuda' else 'CPU'
    extras = ''.join([', fused AdamW' if args.fused_adamw else '',
                      ', non-finite guard' if args.nonfinite_guard else '',
                      ', compiled' if args.compile else ''])
    line = (f'{path} on {name}, batch {bench.batch_size}, '
            f'{bench.precision}{extras}: {images_per_s:.1f} images/s, '
            f'{step_s * 1000:.0f} ms/step, {flops / 1e9:.1f} GFLOPs/image '
            f'(fwd+bwd), {achieved:.2f} TFLOP/s = MFU '
            f'{achieved / ref_tflops:.1%} of a {bench.precision} matmul '
            f'({ref_tflops:.1f} TFLOP/s)')
    if peak is not None:
        line += (f', peak memory {peak / 2**30:.1f} GiB '
                 f'({peak / 2**20 / bench.batch_size:.1f} MiB/image)')
    print(line, flush=True)
    del bench
    if device == 'cuda':
        torch.cuda.empty_cache()
    return dict(images_per_s=images_per_s, flops=flops, peak=peak)


def main(argv=None):
    args = parse_args(argv)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    size = args.matmul_size or (8192 if device == 'cuda' else 1024)
    measured = {}

    def reference(precision):
        if precision not in measured:
            measured[precision] = matmul_tflops(
                size, MATMUL_DTYPES[precision], device)
        return measured[precision]

    first = run(args.config, args, device, reference, args.cfg_options)
    if not args.compare:
        return
    second = run(args.compare, args, device, reference)
    ratios = [f'{first["images_per_s"] / second["images_per_s"]:.2f}x '
              'images/s',
              f'{first["flops"] / second["flops"]:.2f}x FLOPs/image']
    if first['peak'] is not None:
        ratios.append(f'{first["peak"] / second["peak"]:.2f}x peak memory')
    print(f'{args.config} / {args.compare}: ' + ', '.join(ratios))


if __name__ == '__main__':
    main()
