"""What the benchmark tools compute, checked in-process on tiny inputs (fake
clocks where a rate is computed, so the figures are exact); one slow test
rehearses the GPU-benchmark script on CPU."""
import importlib.util
import os
import random
import re
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools' / 'analysis_tools'
DEMO = str(ROOT / 'configs' / 'cim_demo.py')
PRETRAIN = str(ROOT / 'configs' / 'cim_vitb_300e.py')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'cim_{name}_tool',
                                                  TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# tiny tensor operations: torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('benchmark_train')


@pytest.fixture(scope='module')
def pairs_tool():
    return load_tool('benchmark_pairs')


@pytest.fixture(scope='module')
def data_tool():
    omp = os.environ.get('OMP_NUM_THREADS')
    module = load_tool('benchmark_data')
    if omp is None:  # its import-time default is for its own process only
        os.environ.pop('OMP_NUM_THREADS', None)
    return module


@pytest.fixture(scope='module')
def stress_tool():
    return load_tool('stress_launchers')


@pytest.fixture
def keep_threads():
    """The tools pin torch and OpenCV to one thread; later tests get the
    thread counts back."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


class FakeClock:
    """``time.perf_counter`` that moves only when ``tick`` is called."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now

    def tick(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def use_clock(monkeypatch, module, perf_counter):
    monkeypatch.setattr(module, 'time',
                        types.SimpleNamespace(perf_counter=perf_counter))


# benchmark_train.py


def demo_bench(tool, layers, batch_size=1, *flags):
    """A Bench of configs/cim_demo.py with ``layers`` ViT layers on CPU."""
    args = tool.parse_args([DEMO, '--batch-size', str(batch_size), '--iters',
                            '1', '--warmup', '0', *flags])
    return tool.Bench(DEMO, args, 'cpu', {
        'model.backbone.arch.num_layers': layers,
    })


@pytest.fixture(scope='module')
def demo_flops(train_tool):
    """Forward + backward FLOPs per image of the demo's model with 2, 3 and
    4 layers (batch 1), as Bench.flops_per_image counts them on CPU."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    return {
        layers: demo_bench(train_tool, layers).flops_per_image()
        for layers in (2, 3, 4)
    }


def test_flops_per_image_are_per_image_and_a_vit_layers_matmuls(
        train_tool, demo_flops):
    # per image: a batch of 2 counts twice the FLOPs of a batch of 1
    assert demo_bench(train_tool, 2, 2).flops_per_image() == demo_flops[2]
    # every added layer adds the same count ...
    per_layer = demo_flops[3] - demo_flops[2]
    assert per_layer > 0 and demo_flops[4] - demo_flops[3] == per_layer
    # ... that of one ViT layer (D=128, FFN 512) over CIM's tokens: online
    # on 6 exemplars of 3x3+1 tokens, forward + backward (x3, the input
    # needs its gradient: the cls token trains), the EMA target on the
    # 6x6+1 context tokens, forward only. The linear layers are 2(4D^2+2DF)
    # per token; the attention products (4T^2D a sequence) are counted only
    # where FlopCounterMode knows the attention kernel (not torch 2.14's on
    # CPU: there the count is exactly the linear layers').
    cfg = Config.fromfile(DEMO)
    dims = cfg.model.backbone.arch.embed_dims
    ffn = cfg.model.backbone.arch.feedforward_channels
    exemplars, exemplar_tokens = 6, (cfg.exemplar_size // 16)**2 + 1
    context_tokens = (cfg.context_size // 16)**2 + 1
    assert (dims, ffn, exemplar_tokens, context_tokens) == (128, 512, 10, 37)
    linear = 2 * (4 * dims**2 + 2 * dims * ffn) * (
        3 * exemplars * exemplar_tokens + context_tokens)
    attention = 4 * dims * (3 * exemplars * exemplar_tokens**2 +
                            context_tokens**2)
    assert linear <= per_layer <= linear + attention, (per_layer, linear)


def test_precision_is_the_configs_on_a_gpu_and_fp32_on_cpu(train_tool):
    cfg = Config.fromfile(PRETRAIN)  # BF16OptimWrapper

    def precision(*flags, cuda, wrapper=None):
        args = train_tool.parse_args([PRETRAIN, *flags])
        config = cfg if wrapper is None else ConfigDict(optim_wrapper=wrapper)
        return train_tool.resolve_precision(args, config, cuda)

    assert precision(cuda=True) == 'bf16'
    assert precision(cuda=False) == 'fp32'  # as tools/train.py on CPU
    assert precision('--bf16', cuda=False) == 'bf16'
    assert precision('--amp', cuda=True) == 'fp16'
    assert precision('--amp', cuda=False) == 'bf16'
    assert precision('--precision', 'fp16', cuda=False) == 'fp16'
    amp = dict(type='AmpOptimWrapper', optimizer=dict(type='AdamW'))
    assert precision(cuda=True, wrapper=amp) == 'fp16'
    assert precision(
        cuda=True, wrapper=dict(amp, dtype='bfloat16')) == 'bf16'
    assert precision(cuda=False, wrapper=amp) == 'fp32'
    assert precision(
        cuda=True, wrapper=dict(type='OptimWrapper')) == 'fp32'


def test_optim_config_sets_the_wrapper_and_fused_adamw(train_tool):
    cfg = ConfigDict(optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale=512.0, dtype='float16',
        optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=1.0)))
    original = cfg.to_dict()

    fp32 = train_tool.optim_config(cfg, 'fp32', False, False)
    assert fp32.type == 'OptimWrapper'
    assert 'loss_scale' not in fp32 and 'dtype' not in fp32
    assert fp32.optimizer == dict(type='AdamW', lr=1e-3)
    assert fp32.clip_grad == dict(max_norm=1.0)
    bf16 = train_tool.optim_config(cfg, 'bf16', False, True)
    assert bf16.type == 'BF16OptimWrapper'
    assert bf16.optimizer == dict(type='AdamW', lr=1e-3, fused=True)
    fp16 = train_tool.optim_config(cfg, 'fp16', True, False)
    assert (fp16.type, fp16.loss_scale) == ('AmpOptimWrapper', 'dynamic')
    assert 'dtype' not in fp16 and 'fused' not in fp16.optimizer
    with pytest.raises(SystemExit, match='fp16 AMP needs a GPU'):
        train_tool.optim_config(cfg, 'fp16', False, False)
    assert cfg.to_dict() == original  # the config itself is left as it was


def test_bench_builds_the_wrapper_and_the_batch_asked_for(train_tool):
    bench = demo_bench(train_tool, 2, 2, '--bf16', '--fused-adamw')
    assert bench.precision == 'bf16' and bench.batch_size == 2
    assert type(bench.optim_wrapper).__name__ == 'BF16OptimWrapper'
    optimizer = bench.optim_wrapper.optimizer
    assert type(optimizer) is torch.optim.AdamW
    assert all(group['fused'] for group in optimizer.param_groups)
    # the fixed batch: search images and the drawn parameters, from which
    # the step's data preprocessor builds 96 px contexts and 48 px exemplars
    inputs = bench.batch['inputs']
    assert [tuple(x.shape) for x in inputs] == [(2, 3, 224, 224)]
    assert bench.batch['pair_params']['exemplar_corners'].shape == (2, 6, 4,
                                                                    2)
    assert len(bench.batch['data_samples']) == 2
    # other algorithms get random 224 px images, no data samples
    batch = train_tool.fixed_batch(ConfigDict(model=dict(type='MAE')), 3)
    assert batch['data_samples'] is None
    assert batch['inputs'].shape == (3, 3, 224, 224)
    assert batch['inputs'].dtype == torch.uint8


def test_nonfinite_guard_masks_the_timed_step_and_its_ema(train_tool):
    bench = demo_bench(train_tool, 1, 2, '--nonfinite-guard')
    assert bench.guard.device_mode  # the config's fused AdamW
    calls = []
    bench.model.update_target = lambda m, skip=None: calls.append(skip)
    bench.step()
    assert calls[0] is not None and calls[0].item() == 0


def test_traffic_counts_no_syncs_or_copies_on_cpu(train_tool):
    counter, warned = demo_bench(train_tool, 2).traffic()
    assert (counter.syncs, counter.copies, warned) == (0, 0, None)


def test_matmul_reference_counts_2n_cubed_flops_a_product(
        train_tool, monkeypatch):
    readings = iter([10.0, 12.5])  # start, end of the timed repeats
    use_clock(monkeypatch, train_tool, lambda: next(readings))
    tflops = train_tool.matmul_tflops(16, torch.float32, 'cpu', repeats=10)
    assert tflops == 2 * 16**3 * 10 / 2.5 / 1e12


def test_main_compares_two_configs_with_their_flops_ratio(
        train_tool, demo_flops, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(train_tool.torch.cuda, 'is_available', lambda: False)
    profile = tmp_path / 'profile.txt'
    train_tool.main([
        DEMO, '--compare', DEMO, '--batch-size', '1', '--iters', '1',
        '--warmup', '0', '--matmul-size', '64', '--profile', str(profile),
        '--cfg-options', 'model.backbone.arch.num_layers=2'
    ])
    out = capsys.readouterr().out
    assert out.count('preprocessor + forward of one step: 0 host-device '
                     'syncs, 0 cross-device copies') == 2, out
    gflops = re.findall(
        r'cim_demo.py on CPU, batch 1, fp32: [\d.]+ images/s, \d+ ms/step, '
        r'([\d.]+) GFLOPs/image \(fwd\+bwd\), [\d.]+ TFLOP/s = MFU '
        r'[\d.]+% of a fp32 matmul', out)
    # --cfg-options applies to the first config only: 2 of its 4 layers
    assert gflops == [f'{demo_flops[2] / 1e9:.1f}',
                      f'{demo_flops[4] / 1e9:.1f}'], out
    ratio = re.search(r'cim_demo.py / \S+cim_demo.py: [\d.]+x images/s, '
                      r'([\d.]+)x FLOPs/image', out)
    assert ratio, out
    assert ratio.group(1) == f'{demo_flops[2] / demo_flops[4]:.2f}'
    assert float(ratio.group(1)) < 1
    text = profile.read_text()
    assert text.count('fp32, batch 1, 3 steps') == 2 and 'aten::mm' in text


# benchmark_pairs.py


def test_samples_per_second_times_only_the_counted_samples(
        pairs_tool, monkeypatch, clock):
    use_clock(monkeypatch, pairs_tool, clock.perf_counter)
    made, seen = [], []

    def make_input():
        made.append(dict(index=len(made)))
        return made[-1]

    def pipeline(sample):
        seen.append(sample)
        clock.tick(0.25)  # each sample takes 0.25 s
        return sample

    rate = pairs_tool.samples_per_second(pipeline, make_input, 7)
    # 5 warm-up samples, then 7 timed ones: 7 / (7 * 0.25 s)
    assert rate == 4.0
    assert len(seen) == 12 and all(a is b for a, b in zip(seen, made))


def test_default_image_is_a_jpeg_the_pipeline_turns_into_a_pair(
        pairs_tool, tmp_path):
    from mmcv.transforms import Compose
    from mmpretrain.registry import TRANSFORMS
    path = pairs_tool.default_image(str(tmp_path))
    assert path.endswith('.jpg')
    assert cv2.imread(path).shape == (400, 600, 3)  # scikit-image's coffee
    pipeline = Compose([
        TRANSFORMS.build(dict(type=name)) for name in
        ('LoadImageFromFile', 'DrawCorrelationalPair', 'PackCIMInputs')
    ])
    sample = pipeline(dict(img_path=path))
    assert [tuple(x.shape) for x in sample['inputs']] == [(3, 224, 224)]


# benchmark_data.py


def jpeg_bytes(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(Path(root, 'train').rglob('*.JPEG'))
    }


def test_write_jpeg_tree_writes_imagenet_sized_jpegs_once(
        data_tool, tmp_path):
    first, again, other = (tmp_path / name for name in ('a', 'b', 'c'))
    assert data_tool.write_jpeg_tree(str(first), 12) == str(first)
    files = jpeg_bytes(first)
    assert len(files) == 12
    assert {name.split('/')[1] for name in files} == \
        {f'n{i:08d}' for i in range(10)}  # ImageNet-style class folders
    widths = [cv2.imread(str(first / name)).shape[1] for name in files]
    assert min(widths) >= 400 and max(widths) <= 500 and len(set(widths)) > 1
    # the seed decides the files; a written tree is kept as it is
    data_tool.write_jpeg_tree(str(again), 12, seed=0)
    assert jpeg_bytes(again) == files
    data_tool.write_jpeg_tree(str(other), 12, seed=1)
    assert jpeg_bytes(other).keys() == files.keys()
    assert jpeg_bytes(other) != files
    data_tool.write_jpeg_tree(str(first), 3, seed=1)
    assert jpeg_bytes(first) == files


def test_one_core_rate_times_decode_and_pipeline_per_sample(
        data_tool, monkeypatch, clock, tmp_path, keep_threads):
    data_tool.write_jpeg_tree(str(tmp_path), 3)
    use_clock(monkeypatch, data_tool, clock.perf_counter)
    read = []

    class TimedDataset:
        """The real dataset; each sample takes 0.5 s of the fake clock."""

        def __init__(self, dataset):
            self.dataset = dataset

        def __len__(self):
            return len(self.dataset)

        def __getitem__(self, index):
            sample = self.dataset[index]
            read.append((index, sample))
            clock.tick(0.5)
            return sample

    real = data_tool.DATASETS
    monkeypatch.setattr(data_tool, 'DATASETS', types.SimpleNamespace(
        build=lambda cfg: TimedDataset(real.build(cfg))))
    cfg = Config.fromfile(DEMO)
    rate = data_tool.one_core_rate(cfg, str(tmp_path), 4)
    assert rate == 4 / (4 * 0.5)
    # 5 warm-up samples, then 4 timed ones, cycling over the 3 JPEGs
    assert [index for index, _ in read] == [0, 1, 2, 0, 1, 0, 1, 2, 0]
    paths = {sample['data_samples'].img_path for _, sample in read}
    assert paths == {str(p) for p in tmp_path.rglob('*.JPEG')}
    assert all(len(sample['inputs']) == 1 for _, sample in read)  # search



def test_one_core_rate_with_collate_batch_times_the_collate_fn_too(
        data_tool, monkeypatch, clock, tmp_path, keep_threads):
    data_tool.write_jpeg_tree(str(tmp_path), 3)
    use_clock(monkeypatch, data_tool, clock.perf_counter)
    collated = []

    def timed_collate(samples):
        """The config's collate_fn; each call takes 1 s of the fake clock."""
        collated.append(real(samples))
        clock.tick(1.0)
        return collated[-1]

    cfg = Config.fromfile(DEMO)
    cfg.train_dataloader.collate_fn = dict(type='pair_synthesis_collate')
    real = data_tool.FUNCTIONS.get('pair_synthesis_collate')
    monkeypatch.setattr(data_tool, 'FUNCTIONS', types.SimpleNamespace(
        get=lambda name: timed_collate))
    rate = data_tool.one_core_rate(cfg, str(tmp_path), 3, collate_batch=2)
    # 3 samples -> 2 timed batches of 2 (after 2 warm-up ones), 1 s each
    assert rate == 4 / 2.0
    assert len(collated) == 4
    # the collate built the pairs: uint8 contexts and exemplars with maps
    assert [x.shape[1:] for x in collated[-1]['inputs'][:2]] == [
        (3, 96, 96), (3, 48, 48)]
    assert collated[-1]['data_samples'][0].corr_maps.shape == (6, 96, 96)


# stress_launchers.py


def test_launch_returns_the_exit_code_and_the_killed_ranks_signals(
        stress_tool, monkeypatch, tmp_path):
    monkeypatch.setenv('PORT', '29999')
    log = tmp_path / 'train.log'
    script = '\n'.join([
        'echo "PYTHON=$PYTHON PORT=${PORT:-unset} PWD=$PWD"',
        # torchrun's failure report, one block per rank
        'echo "  exitcode  : -15 (pid: 4242) (SIGTERM)"',
        'echo "  exitcode  : -9 (pid: 4243) (SIGKILL)" >&2',
        'echo "  exitcode  : -15 (pid: 4244) (SIGTERM)"',
        'echo "  exitcode  : 1 (pid: 4245)"',
        'echo "  traceback : Signal 6 (SIGABRT) received by PID 4246"',
        'exit 3',
    ])
    code, signals = stress_tool.launch(['bash', '-c', script], str(log),
                                       python='/opt/python-of-the-launch')
    assert (code, signals) == (3, 'SIGKILL,SIGTERM')
    text = log.read_text()
    assert text.startswith(f'PYTHON=/opt/python-of-the-launch PORT=unset '
                           f'PWD={ROOT}\n')
    assert '(SIGKILL)' in text  # stderr goes to the log too
    assert stress_tool.launch(['bash', '-c', 'echo done'], str(log),
                              python='unused') == (0, '')


# gpu_benchmarks.sh


@pytest.mark.slow
def test_gpu_benchmarks_rehearsal_runs_a_step_as_the_gpu_host_would(
        tmp_path):
    """rehearse_gpu_benchmarks.sh runs gpu_benchmarks.sh's data_one_core
    step (ONLY=) with only python3 on the PATH and foolbox and
    pkg_resources unimportable: MAE's mmpretrain:: config still resolves,
    the JPEGs come from scikit-image's photos, and the summary has the
    step's figures and nothing of the steps left out."""
    env = dict(os.environ, OUT=str(tmp_path), ONLY='data_one_core',
               IMAGES='12', SAMPLES='3', PYTHON3=sys.executable)
    proc = subprocess.run(
        ['bash', str(TOOLS / 'rehearse_gpu_benchmarks.sh')], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'rehearsal passed' in proc.stdout, proc.stdout
    summary = (tmp_path / 'summary.txt').read_text()
    assert '== data_one_core' in summary, summary
    assert re.search(r'^   exit 0 after \d+ s$', summary, re.M), summary
    assert len(re.findall(r'one core, decode \+ pipeline: [\d.]+ samples/s',
                          summary)) == 2, summary
    assert re.search(r'cim_vitb_300e.py / mmpretrain::mae/\S+: [\d.]+x '
                     r'samples/s on one core', summary), summary
    assert '== shipped' not in summary  # ONLY= left the other steps out
    if not torch.cuda.is_available():
        assert '== bf16_fused_compiled: skipped (no GPU)' in summary
    assert len(list((tmp_path / 'jpegs' / 'train').rglob('*.JPEG'))) == 12


# ---------------------------------------------------------------------------
# benchmark_knn_monitor.py
# ---------------------------------------------------------------------------
def test_knn_monitor_benchmark_times_loader_forward_and_knn(tmp_path):
    result = load_tool('benchmark_knn_monitor').main([
        DEMO, '--images', '4', '--input-size', '32', '--batch-size', '2',
        '--memory', '20', '--queries', '10', '--classes', '3', '--dir',
        str(tmp_path), '--cfg-options', 'model.backbone.arch.num_layers=1'
    ])
    assert (result['images'], result['feature_dim'], result['memory'],
            result['queries']) == (4, 128, 20, 10)
    assert all(result[key] > 0 for key in (
        'loader_images_per_s', 'forward_images_per_s',
        'extract_images_per_s'))
    assert len(list(tmp_path.glob('train/*/*.JPEG'))) == 4
