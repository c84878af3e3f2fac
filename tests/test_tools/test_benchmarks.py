"""The benchmark scripts run and print their figures."""
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools', 'analysis_tools')


def _run(args):
    proc = subprocess.run([sys.executable, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_benchmark_pairs_prints_samples_per_second():
    out = _run([osp.join(TOOLS, 'benchmark_pairs.py'), '--num-samples', '5'])
    rates = re.findall(r'([\d.]+) samples/s', out)
    assert len(rates) == 3 and all(float(r) > 0 for r in rates)


def test_benchmark_train_prints_images_per_second_for_cim():
    out = _run([
        osp.join(TOOLS, 'benchmark_train.py'),
        osp.join(REPO, 'configs', 'cim_demo.py'), '--batch-size', '2',
        '--iters', '1', '--warmup', '1'
    ])
    # configs run in fp32 on a machine without GPU, as tools/train.py does
    assert re.search(r'batch 2, fp32: [\d.]+ images/s', out), out


def test_benchmark_train_compares_two_configs_with_flops_and_mfu(tmp_path):
    demo = osp.join(REPO, 'configs', 'cim_demo.py')
    profile = tmp_path / 'profile.txt'
    out = _run([
        osp.join(TOOLS, 'benchmark_train.py'), demo, '--compare', demo,
        '--batch-size', '2', '--iters', '1', '--warmup', '1', '--bf16',
        '--fused-adamw', '--matmul-size', '256', '--profile', str(profile),
        '--cfg-options', 'model.backbone.arch.num_layers=2'
    ])
    lines = re.findall(
        r'batch 2, bf16, fused AdamW: [\d.]+ images/s, \d+ ms/step, '
        r'([\d.]+) GFLOPs/image \(fwd\+bwd\), [\d.]+ TFLOP/s = MFU '
        r'[\d.]+% of a bf16 matmul', out)
    assert len(lines) == 2, out
    # --cfg-options applies to the first config only: 2 of its 4 layers
    assert float(lines[0]) < float(lines[1])
    ratio = re.search(r'cim_demo.py: [\d.]+x images/s, ([\d.]+)x '
                      'FLOPs/image', out)
    assert ratio and 0.3 < float(ratio.group(1)) < 1, out
    assert 'aten::' in profile.read_text()


def test_stress_launchers_counts_failed_launches(tmp_path):
    out = _run([
        osp.join(TOOLS, 'stress_launchers.py'), '--runs', '1', '--no-test',
        '--keep', str(tmp_path)
    ])
    assert re.search(r'dist_train.sh: 0 of 1 launches failed \(2 processes '
                     r'each, 0 busy processes alongside', out), out
    assert (tmp_path / 'run0' / 'iter_4.pth').is_file()


def test_benchmark_data_writes_jpegs_and_times_pipelines_and_loader(
        tmp_path):
    demo = osp.join(REPO, 'configs', 'cim_demo.py')
    out = _run([
        osp.join(TOOLS, 'benchmark_data.py'), demo, '--compare', demo,
        '--data-root', str(tmp_path), '--num-images', '12', '--num-samples',
        '3', '--workers', '1', '--iters', '2', '--batch-size', '2'
    ])
    jpegs = sorted((tmp_path / 'train').rglob('*.JPEG'))
    assert len(jpegs) == 12
    import cv2
    widths = {cv2.imread(str(p)).shape[1] for p in jpegs}
    assert min(widths) >= 400 and max(widths) <= 500
    assert len(re.findall(r'one core, decode \+ pipeline: [\d.]+ samples/s',
                          out)) == 2, out
    assert re.search(r'cim_demo.py: [\d.]+x samples/s on one core', out), out
    assert re.search(r'dataloader with 1 workers: [\d.]+ samples/s', out), out


def test_gpu_benchmarks_script_runs_a_step_and_writes_its_summary(tmp_path):
    """The GPU script's dry run (one cheap step, tiny sizes) on CPU."""
    import os
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path),
               ONLY='data_one_core', IMAGES='12', SAMPLES='3',
               TIME_SCALE='5')
    proc = subprocess.run(
        ['bash', osp.join(TOOLS, 'gpu_benchmarks.sh')], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = (tmp_path / 'summary.txt').read_text()
    assert '== data_one_core' in summary and 'exit 0' in summary, summary
    assert re.search(r'[\d.]+x samples/s on one core', summary), summary
    assert '== shipped' not in summary  # ONLY= skipped the other steps


def test_gpu_benchmarks_rehearsal_simulates_the_gpu_hosts_gaps(tmp_path):
    """The rehearsal runs a step with only python3 on the PATH and foolbox
    and pkg_resources unimportable; MAE's mmpretrain:: config still
    resolves and the JPEGs come from scikit-image's photos."""
    import os
    env = dict(os.environ, OUT=str(tmp_path), ONLY='data_one_core',
               IMAGES='12', SAMPLES='3', PYTHON3=sys.executable)
    proc = subprocess.run(
        ['bash', osp.join(TOOLS, 'rehearse_gpu_benchmarks.sh')], cwd=REPO,
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'rehearsal passed' in proc.stdout
    summary = (tmp_path / 'summary.txt').read_text()
    assert re.search(r'mmpretrain::mae/\S+: [\d.]+x samples/s on one core',
                     summary), summary
    assert '== bf16_fused_compiled: skipped (no GPU)' in summary
