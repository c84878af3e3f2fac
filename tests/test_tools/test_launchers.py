"""tools/train.py, tools/test.py and the launch scripts, run as a user would.

Distributed runs train CIM (configs/cim_demo.py shrunk to 2 layers and 4
iterations) on 2 CPU processes (gloo through cim_mm.compat), on a port
torchrun picks itself (``--standalone``). Each process also imports
this module (see ``digest_config``) for :class:`RankStateDigestHook`, which
records what every rank ends with, and :class:`RankExitReportHook`, which
records what is still alive when the tool's ``main()`` has returned.
"""
import atexit
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'
TOY_CONFIG = ROOT / 'tests' / 'data' / 'toy_config.py'
DEMO_CONFIG = ROOT / 'configs' / 'cim_demo.py'
SCRIPTS = ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh',
           'sbatch_train.sh']
TIMEOUT = 180


def state_digest(state_dict):
    """sha256 over the names and values of a state dict."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy()
                      .tobytes())
    return digest.hexdigest()


@HOOKS.register_module()
class RankStateDigestHook(Hook):
    """Writes ``state_digest_rank<r>.txt`` of this rank's model after training.
    """

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        Path(runner.work_dir, f'state_digest_rank{runner.rank}.txt'
             ).write_text(state_digest(model.state_dict()))


def write_exit_report(path):
    """What a process still runs after its tool's ``main()`` returned.

    Called by ``atexit``, i.e. before the interpreter finalizes: a live
    process group there (its backend's worker threads) is what aborted
    2-process runs at exit (cim_mm.compat.shutdown_distributed).
    """
    os_threads = sorted(
        Path(f'/proc/self/task/{task}/comm').read_text().strip()
        for task in os.listdir('/proc/self/task'))
    Path(path).write_text(json.dumps(dict(
        process_group_initialized=torch.distributed.is_initialized(),
        backend_threads=[name for name in os_threads
                         if 'gloo' in name or 'nccl' in name],
        non_daemon_threads=[
            thread.name for thread in threading.enumerate()
            if not thread.daemon and thread is not threading.main_thread()
        ])))


@HOOKS.register_module()
class RankExitReportHook(Hook):
    """Has ``exit_report_rank<r>.json`` written at this rank's exit."""

    def before_run(self, runner):
        atexit.register(
            write_exit_report,
            Path(runner.work_dir, f'exit_report_rank{runner.rank}.json'))


def exit_reports(work_dir):
    return [json.loads((work_dir / f'exit_report_rank{rank}.json').read_text())
            for rank in (0, 1)]


CLEAN_EXIT = dict(process_group_initialized=False, backend_threads=[],
                  non_daemon_threads=[])


def checkpoint_digest(path):
    return state_digest(torch.load(path, weights_only=False)['state_dict'])


def run(command, **env):
    """Run ``command`` from the repo root; return its combined output.

    ``PORT`` is unset: the launch scripts then let torchrun pick a free
    port (no collision with another run on this machine).
    """
    full_env = dict(
        os.environ,
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).parent),
                          os.environ.get('PYTHONPATH')])))
    full_env.pop('PORT', None)
    full_env.update(env)
    result = subprocess.run(
        [str(c) for c in command], cwd=ROOT, env=full_env, timeout=TIMEOUT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, result.stdout[-5000:]
    return result.stdout


@pytest.fixture(scope='module')
def data_options(toy_class_images):
    """--cfg-options pointing every split of the toy config at real images."""
    root = toy_class_images
    return ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ]


@pytest.fixture(scope='module')
def cim_options(demo_data_root, tiny_demo_cfg_options):
    """--cfg-options shrinking configs/cim_demo.py to 2 layers, 4
    iterations on the demo photos."""
    return ['--cfg-options'] + [
        f'{key}={value}'
        for key, value in tiny_demo_cfg_options(demo_data_root).items()
    ] + ['model.backbone.arch.num_layers=2']


@pytest.fixture(scope='module')
def digest_config(tmp_path_factory):
    """The CIM demo config plus :class:`RankStateDigestHook` and
    :class:`RankExitReportHook`."""
    path = tmp_path_factory.mktemp('configs') / 'cim_digest.py'
    path.write_text(
        f'_base_ = [{str(DEMO_CONFIG)!r}]\n'
        "custom_imports = dict(imports=['cim_mm', 'test_launchers'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='RankStateDigestHook'), "
        "dict(type='RankExitReportHook')]\n")
    return path


def rank_digests(work_dir):
    return [(work_dir / f'state_digest_rank{rank}.txt').read_text()
            for rank in (0, 1)]


@pytest.fixture(scope='module')
def dist_run(digest_config, cim_options, tmp_path_factory):
    """4 CIM iterations on 2 CPU processes through tools/dist_train.sh."""
    work_dir = tmp_path_factory.mktemp('dist_work_dir')
    output = run(['bash', TOOLS / 'dist_train.sh', digest_config, 2,
                  '--work-dir', work_dir, *cim_options])
    return SimpleNamespace(
        work_dir=work_dir, output=output, digests=rank_digests(work_dir),
        exit_reports=exit_reports(work_dir))


@pytest.fixture(scope='module')
def dist_resume(dist_run, digest_config, cim_options):
    """The same run resumed (--resume, auto) and extended to 6 iterations."""
    output = run(['bash', TOOLS / 'dist_train.sh', digest_config, 2,
                  '--work-dir', dist_run.work_dir, '--resume', *cim_options,
                  'train_cfg.max_iters=6'])
    return SimpleNamespace(
        output=output, digests=rank_digests(dist_run.work_dir))


@pytest.mark.slow
def test_dist_train_on_cpu_uses_gloo_and_saves_checkpoints(dist_run):
    assert "backend 'nccl' is replaced by 'gloo'" in dist_run.output
    assert 'Distributed training: True' in dist_run.output
    assert 'GPU number: 2' in dist_run.output
    assert (dist_run.work_dir / 'iter_2.pth').is_file()
    assert (dist_run.work_dir / 'iter_4.pth').is_file()


@pytest.mark.slow
def test_dist_train_ranks_end_with_identical_online_and_target_weights(
        dist_run):
    rank0, rank1 = dist_run.digests
    assert rank0 == rank1
    assert rank0 == checkpoint_digest(dist_run.work_dir / 'iter_4.pth')
    state = torch.load(dist_run.work_dir / 'iter_4.pth',
                       weights_only=False)['state_dict']
    assert any(key.startswith('target_backbone.') for key in state)


@pytest.mark.slow
def test_dist_train_resume_continues_from_saved_iteration(dist_run,
                                                          dist_resume):
    assert 'resumed epoch: 0, iter: 4' in dist_resume.output
    assert 'Iter(train) [5/6]' in dist_resume.output
    assert 'Iter(train) [1/6]' not in dist_resume.output
    rank0, rank1 = dist_resume.digests
    assert rank0 == rank1
    assert rank0 == checkpoint_digest(dist_run.work_dir / 'iter_6.pth')


@pytest.mark.slow
def test_train_single_process_applies_cfg_options_and_cpu_amp(
        data_options, tmp_path):
    output = run([
        sys.executable, TOOLS / 'train.py', TOY_CONFIG, '--work-dir',
        tmp_path, '--amp', *data_options, 'train_cfg.max_iters=2'
    ])
    assert (tmp_path / 'iter_2.pth').is_file()
    assert not (tmp_path / 'iter_4.pth').exists()
    if not torch.cuda.is_available():
        assert 'bf16 autocast on CPU' in output
        dumped = (tmp_path / 'toy_config.py').read_text()
        assert "type='CPUAmpOptimWrapper'" in dumped


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_amp_config_without_gpu_trains_in_fp32(data_options, tmp_path):
    output = run([
        sys.executable, TOOLS / 'train.py', TOY_CONFIG, '--work-dir',
        tmp_path, *data_options, 'train_cfg.max_iters=2',
        'optim_wrapper.type=AmpOptimWrapper'
    ])
    assert (tmp_path / 'iter_2.pth').is_file()
    assert 'replaced by OptimWrapper (fp32)' in output
    dumped = (tmp_path / 'toy_config.py').read_text()
    assert "type='OptimWrapper'" in dumped


@pytest.mark.slow
def test_dist_train_ranks_leave_no_process_group_or_thread_at_exit(dist_run):
    assert dist_run.exit_reports == [CLEAN_EXIT, CLEAN_EXIT]


@pytest.mark.slow
def test_dist_test_evaluates_a_checkpoint_and_exits_cleanly(
        dist_run, digest_config, cim_options, tmp_path):
    metrics_file = tmp_path / 'metrics.json'
    run(['bash', TOOLS / 'dist_test.sh', digest_config,
         dist_run.work_dir / 'iter_4.pth', 2, '--work-dir', tmp_path,
         '--out', metrics_file, '--out-item', 'metrics', *cim_options])
    metrics = json.loads(metrics_file.read_text())
    assert 0 <= metrics['corr/iou'] <= 100
    assert exit_reports(tmp_path) == [CLEAN_EXIT, CLEAN_EXIT]




@pytest.mark.parametrize('script', SCRIPTS)
def test_shell_script_is_executable_and_parses(script):
    assert os.access(TOOLS / script, os.X_OK)
    subprocess.run(['bash', '-n', TOOLS / script], check=True, timeout=10)


@pytest.fixture
def fake_srun(tmp_path):
    """A ``srun`` on PATH that prints its arguments, one per line."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    srun.chmod(0o755)
    return dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')


def srun_arguments(output):
    """Drop the ``set -x`` trace lines, keep what srun printed."""
    return [line for line in output.splitlines() if not line.startswith('+')]


@pytest.mark.parametrize('work_dir', [['my_work_dir'], []])
def test_slurm_train_passes_work_dir_launcher_and_options_to_srun(
        fake_srun, work_dir):
    output = run(['bash', TOOLS / 'slurm_train.sh', 'gpu', 'job', 'cfg.py',
                  *work_dir, '--amp'], GPUS='16', PYTHON='python',
                 **fake_srun)
    args = srun_arguments(output)
    assert args[:2] == ['-p', 'gpu']
    assert '--ntasks=16' in args and '--job-name=job' in args
    train = args.index(str(TOOLS / 'train.py'))
    expected = ['cfg.py'] + [f'--work-dir={d}' for d in work_dir]
    assert args[train + 1:] == expected + ['--launcher=slurm', '--amp']


def test_slurm_test_passes_checkpoint_launcher_and_options_to_srun(fake_srun):
    output = run(['bash', TOOLS / 'slurm_test.sh', 'gpu', 'job', 'cfg.py',
                  'ckpt.pth', '--out', 'r.pkl'], PYTHON='python',
                 **fake_srun)
    args = srun_arguments(output)
    test = args.index(str(TOOLS / 'test.py'))
    assert args[test + 1:] == [
        'cfg.py', 'ckpt.pth', '--launcher=slurm', '--out', 'r.pkl'
    ]


@pytest.fixture
def fake_python(tmp_path):
    """A ``PYTHON`` that prints its arguments, one per line."""
    python = tmp_path / 'python'
    python.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    python.chmod(0o755)
    return str(python)


@pytest.mark.parametrize('script,args', [
    ('dist_train.sh', ['cfg.py', '2']),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth', '2']),
])
@pytest.mark.parametrize('env,rendezvous', [
    # One node, no PORT: torchrun binds a free port itself.
    (dict(), ['--standalone']),
    (dict(PORT='29613'), ['--nnodes=1', '--node_rank=0',
                          '--master_addr=127.0.0.1', '--master_port=29613']),
    (dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.1.1.1'),
     ['--nnodes=2', '--node_rank=1', '--master_addr=10.1.1.1',
      '--master_port=29500']),
])
def test_dist_scripts_pick_the_rendezvous(fake_python, script, args, env,
                                          rendezvous):
    full_env = {key: value for key, value in os.environ.items()
                if key not in ('PORT', 'NNODES', 'NODE_RANK', 'MASTER_ADDR')}
    full_env.update(env, PYTHON=fake_python)
    output = subprocess.run(
        ['bash', TOOLS / script, *args, '--amp'], env=full_env,
        capture_output=True, text=True, check=True, timeout=30).stdout
    tool = 'train.py' if script == 'dist_train.sh' else 'test.py'
    assert output.splitlines() == [
        '-m', 'torch.distributed.run', *rendezvous, '--nproc_per_node=2',
        str(TOOLS / tool), *args[:-1], '--launcher', 'pytorch', '--amp'
    ]


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_two_nodes(command):
    """``command`` on 2 "nodes" of this machine at once (NNODES=2,
    NODE_RANK=0/1, MASTER_ADDR=127.0.0.1, a free PORT); node 0's output."""
    port = str(free_port())
    processes = []
    for node_rank in ('0', '1'):
        env = dict(
            os.environ, PYTHON=sys.executable, NNODES='2',
            NODE_RANK=node_rank, MASTER_ADDR='127.0.0.1', PORT=port,
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(Path(__file__).parent),
                              os.environ.get('PYTHONPATH')])))
        processes.append(subprocess.Popen(
            [str(c) for c in command], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=TIMEOUT)[0] for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-5000:]
    return outputs[0]


@pytest.mark.slow
def test_two_nodes_on_one_machine_train_save_and_resume(
        digest_config, cim_options, tmp_path):
    command = ['bash', TOOLS / 'dist_train.sh', digest_config, 1,
               '--work-dir', tmp_path, *cim_options]
    run_two_nodes(command)
    assert (tmp_path / 'iter_4.pth').is_file()
    rank0, rank1 = rank_digests(tmp_path)
    assert rank0 == rank1 == checkpoint_digest(tmp_path / 'iter_4.pth')
    output = run_two_nodes(command[:6] + ['--resume'] + command[6:] +
                           ['train_cfg.max_iters=6'])
    assert 'resumed epoch: 0, iter: 4' in output
    rank0, rank1 = rank_digests(tmp_path)
    assert rank0 == rank1 == checkpoint_digest(tmp_path / 'iter_6.pth')
    assert exit_reports(tmp_path) == [CLEAN_EXIT, CLEAN_EXIT]


@pytest.mark.slow
def test_dist_train_knn_monitor_gathers_the_features_of_both_ranks(
        cim_options, knn_folders, tmp_path):
    """KNNMonitorHook on 2 processes: each rank extracts half of the
    images, the all-gathered features give the accuracy that one process
    finds on the saved weights (tools/analysis_tools/knn_eval.py's run), and
    the ranks still end with identical weights."""
    from cim_mm.compat import load_config
    from cim_mm.evaluation.knn import knn_pipeline, run_knn_eval
    loader = ('dict(batch_size=4, num_workers=0, dataset=dict('
              "type='CustomDataset', data_root={!r}, pipeline={!r}))")
    config = tmp_path / 'cim_knn.py'
    config.write_text(
        f'_base_ = [{str(DEMO_CONFIG)!r}]\n'
        "custom_imports = dict(imports=['cim_mm', 'test_launchers'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [*_base_.custom_hooks, dict(type='KNNMonitorHook', "
        'interval=4, memory=' + loader.format(knn_folders[0], knn_pipeline(32))
        + ', query=' + loader.format(knn_folders[1], knn_pipeline(32)) +
        "), dict(type='RankStateDigestHook')]\n")
    work_dir = tmp_path / 'work_dir'
    output = run(['bash', TOOLS / 'dist_train.sh', config, 2, '--work-dir',
                  work_dir, *cim_options])
    assert 'GPU number: 2' in output
    rank0, rank1 = rank_digests(work_dir)
    assert rank0 == rank1
    history = torch.load(work_dir / 'iter_4.pth',
                         weights_only=False)['knn_monitor']['history']
    assert [(h['step'], h['num_memory'], h['num_query'])
            for h in history] == [(4, 12, 6)]
    cfg = load_config(str(work_dir / 'cim_knn.py'))
    alone = run_knn_eval(cfg, str(work_dir / 'iter_4.pth'), *knn_folders,
                         input_size=32, batch_size=4, num_workers=0,
                         progress=False)
    assert (history[0]['top1'], history[0]['top5']) == (alone['top1'],
                                                        alone['top5'])
