"""One test per adaptation in cim_mm.compat (run on CPU, in seconds)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.dist import init_dist
from mmengine.dist import utils as dist_utils
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from mmpretrain.registry import MODELS

from cim_mm import compat

TOY_CONFIG = Path(__file__).parent / 'data' / 'toy_config.py'


class Opaque:
    """Any Python object: a pickle holding it is not weights-only."""


def toy_cfg(data_root, work_dir, name, **overrides):
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.merge_from_dict({
        f'{split}_dataloader.dataset.data_root': str(data_root)
        for split in ('train', 'val', 'test')
    })
    cfg.merge_from_dict(
        dict(work_dir=str(work_dir), experiment_name=name, **overrides))
    return cfg


@pytest.fixture(scope='module')
def data_root(toy_class_images):
    return toy_class_images


@pytest.fixture(scope='module')
def runner_checkpoint(data_root, tmp_path_factory):
    """A checkpoint saved by a runner after 2 training iterations."""
    work_dir = tmp_path_factory.mktemp('trained')
    cfg = toy_cfg(
        data_root, work_dir, 'compat_trained', **{'train_cfg.max_iters': 2})
    Runner.from_cfg(cfg).train()
    return work_dir / 'iter_2.pth'


def state_dicts_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# (a) checkpoint loading ----------------------------------------------------
def test_resume_from_runner_checkpoint_restores_iter_and_message_hub(
        data_root, runner_checkpoint, tmp_path):
    cfg = toy_cfg(
        data_root, tmp_path, 'compat_resume', resume=True,
        load_from=str(runner_checkpoint), **{'train_cfg.max_iters': 3})
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    # 2 losses unpickled from the checkpoint's HistoryBuffer + 1 new one.
    losses, _ = runner.message_hub.get_scalar('train/loss').data
    assert len(losses) == 3


def test_load_from_runner_checkpoint_loads_weights(data_root,
                                                   runner_checkpoint,
                                                   tmp_path):
    cfg = toy_cfg(
        data_root, tmp_path, 'compat_load_from',
        load_from=str(runner_checkpoint))
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    saved = torch.load(runner_checkpoint, weights_only=False)['state_dict']
    assert state_dicts_equal(runner.model.state_dict(), saved)


def test_plain_state_dict_loads_via_load_checkpoint_and_pretrained_init(
        tmp_path):
    model_cfg = Config.fromfile(TOY_CONFIG).model
    source = MODELS.build(model_cfg)
    weights = tmp_path / 'plain.pth'
    torch.save(source.state_dict(), weights)

    target = MODELS.build(model_cfg)
    load_checkpoint(target, str(weights), map_location='cpu', strict=True)
    assert state_dicts_equal(target.state_dict(), source.state_dict())

    model_cfg.init_cfg = dict(type='Pretrained', checkpoint=str(weights))
    pretrained = MODELS.build(model_cfg)
    pretrained.init_weights()
    assert state_dicts_equal(pretrained.state_dict(), source.state_dict())


@pytest.mark.parametrize('pickled', ['runner_checkpoint', 'custom_object'])
def test_checkpoint_with_pickled_objects_is_refused_outside_the_runner(
        pickled, runner_checkpoint, tmp_path):
    if pickled == 'runner_checkpoint':
        path = runner_checkpoint
    else:
        path = tmp_path / 'opaque.pth'
        torch.save({'state_dict': {}, 'extra': Opaque()}, path)
    model_cfg = Config.fromfile(TOY_CONFIG).model

    with pytest.raises(compat.UntrustedCheckpointError) as refused:
        load_checkpoint(MODELS.build(model_cfg), str(path))
    message = str(refused.value)
    assert str(path) in message
    assert 'pickled Python objects' in message
    assert 'load_from' in message and 'plain state dict' in message

    model_cfg.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    with pytest.raises(compat.UntrustedCheckpointError):
        MODELS.build(model_cfg).init_weights()
    with compat.trusted_checkpoints():
        assert 'state_dict' in CheckpointLoader.load_checkpoint(str(path))


def test_missing_checkpoint_error_names_the_path(tmp_path):
    missing = tmp_path / 'no_such.pth'
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        CheckpointLoader.load_checkpoint(str(missing))


# (b) distributed launch without GPU ----------------------------------------
@pytest.mark.skipif(
    torch.cuda.is_available(), reason='the patch only acts without GPU')
def test_pytorch_launcher_uses_gloo_and_cpu_ddp_without_gpu(monkeypatch):

    def no_cuda(*args, **kwargs):
        raise AssertionError('CUDA must not be touched without a GPU')

    monkeypatch.setattr(torch.cuda, 'set_device', no_cuda)
    # MASTER_PORT=0: the single rank's store binds a free port itself.
    for key, value in dict(
            RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1', MASTER_PORT='0').items():
        monkeypatch.setenv(key, value)
    start_method = mp.get_start_method(allow_none=True)
    try:
        init_dist('pytorch', backend='nccl')  # as in the usual configs
        assert torch_dist.get_backend() == 'gloo'
        # Runner.wrap_model passes device_ids=[LOCAL_RANK].
        ddp = MMDistributedDataParallel(
            module=torch.nn.Linear(2, 2), device_ids=[0])
        assert ddp.device_ids is None
        ddp(torch.ones(1, 2)).sum().backward()
        del ddp
    finally:
        # Joins gloo's threads now, not at the test session's exit.
        compat.shutdown_distributed(barrier=False)
        mp.set_start_method(start_method, force=True)


# (c) mmcv-lite ---------------------------------------------------------------
def test_mmseg_imports_with_mmcv_lite_and_compiled_ops_fail_clearly():
    script = '''
import json, sys
import cim_mm, mmseg.models, mmcv.ops, torch
from cim_mm import compat
from mmengine.utils.dl_utils import mmcv_full_available
stand_in = isinstance(sys.modules['mmcv._ext'], compat._MissingCompiledOps)
try:
    mmcv.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
    error = None
except RuntimeError as err:
    error = str(err)
print(json.dumps(dict(stand_in=stand_in, error=error,
                      full=mmcv_full_available())))
'''
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if not report['stand_in']:
        pytest.skip('full mmcv with compiled ops is installed')
    assert report['error'].startswith(
        "mmcv compiled op 'nms' is not available: this environment has "
        'mmcv-lite')
    assert 'MMCV_WITH_OPS=1 pip install mmcv==2.1.0' in report['error']
    assert report['full'] is False


# (d) mixed precision on CPU --------------------------------------------------
def test_cpu_amp_optim_wrapper_trains_under_bf16_autocast():
    model = torch.nn.Linear(4, 2)
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='CPUAmpOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.ones(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().square().mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


# all -------------------------------------------------------------------------
def test_apply_all_is_idempotent():
    from mmengine.runner import FlexibleRunner

    def patched_objects():
        return [
            CheckpointLoader._schemes[''], Runner.load_checkpoint,
            Runner.resume, FlexibleRunner.load_checkpoint,
            FlexibleRunner.resume, dist_utils._init_dist_pytorch,
            MMDistributedDataParallel.__init__,
            sys.modules.get('mmcv._ext'),
            OPTIM_WRAPPERS.get('CPUAmpOptimWrapper')
        ]

    before = patched_objects()
    compat.apply_all()
    compat.apply_all()
    assert all(a is b for a, b in zip(before, patched_objects()))
    # Wrapped exactly once: what the patch wraps is mmengine's own function.
    assert Runner.load_checkpoint.__wrapped__.__module__ == (
        'mmengine.runner.runner')
    assert dist_utils._init_dist_pytorch.__wrapped__.__module__ == (
        'mmengine.dist.utils')


def test_cim_mm_config_scope_resolves_to_the_imported_package(tmp_path):
    user_cfg = tmp_path / 'user.py'
    user_cfg.write_text(
        "_base_ = ['cim_mm::finetune/"
        "vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py']\n"
        "model = dict(head=dict(num_classes=10))\n")
    cfg = Config.fromfile(str(user_cfg))
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.head.num_classes == 10
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(9.6e-3)


# (e) distributed teardown ----------------------------------------------------
SHUTDOWN_SCRIPT = '''
import gc, json, os, sys
import torch, torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from cim_mm import compat

def gloo_threads():
    names = (open(f'/proc/self/task/{t}/comm').read().strip()
             for t in os.listdir('/proc/self/task'))
    return sorted(name for name in names if 'gloo' in name)

dist.init_process_group('gloo', init_method='file://' + sys.argv[1],
                        rank=0, world_size=1)

class Runnerlike:
    """Holds a DDP model in a reference cycle, as mmengine's Runner does."""

runner = Runnerlike()
runner.me = runner
runner.model = MMDistributedDataParallel(torch.nn.Linear(2, 2))
runner.model(torch.ones(1, 2)).sum().backward()
kept = runner.model if sys.argv[2] == 'keep' else None
threads_before = gloo_threads()
del runner
left = compat.shutdown_distributed()
report = dict(threads_before=threads_before, left=left,
              threads_after=gloo_threads(),
              initialized=dist.is_initialized())
del kept  # lets the kept group go before exit
gc.collect()
print(json.dumps(report))
'''


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='reads thread names from /proc')
def test_shutdown_distributed_joins_the_backend_threads_of_a_runner_group(
        tmp_path):
    result = subprocess.run(
        [sys.executable, '-c', SHUTDOWN_SCRIPT, str(tmp_path / 'store'),
         'drop'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The group existed, with its worker threads, in a reference cycle.
    assert 'pt_gloo_runloop' in report['threads_before']
    assert report == dict(threads_before=report['threads_before'], left=0,
                          threads_after=[], initialized=False)
    assert 'still referenced' not in result.stdout + result.stderr


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='reads thread names from /proc')
def test_shutdown_distributed_names_what_still_holds_a_group(tmp_path):
    result = subprocess.run(
        [sys.executable, '-c', SHUTDOWN_SCRIPT, str(tmp_path / 'store'),
         'keep'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['left'] == 1 and report['initialized'] is False
    assert 'pt_gloo_runloop' in report['threads_after']
    output = result.stdout + result.stderr
    assert ('1 destroyed process group(s) are still referenced '
            '(by: MMDistributedDataParallel)') in output
