"""Adaptations of the 2023 OpenMMLab stack to 2026 PyTorch, in one place.

mmengine 0.10.7, mmpretrain 1.2.0 and mmsegmentation 1.2.2 were written for
PyTorch 1.x/2.0 on GPU machines with a compiled mmcv. Each function below
corrects one upstream behaviour, says when it can be removed, and is
idempotent. :func:`apply_all` runs them all; ``import cim_mm`` calls it.

The patches:

* :func:`patch_checkpoint_loading` - ``torch.load(weights_only=True)`` default
  (torch >= 2.6) against mmengine's pickled runner checkpoints.
* :func:`patch_distributed_without_gpu` - ``--launcher pytorch`` on a machine
  without a GPU (gloo process group, DDP without ``device_ids``).
* :func:`install_mmcv_ext_stand_in` - ``import mmseg.models`` with mmcv-lite.
* :func:`register_cpu_amp_optim_wrapper` - mixed precision (bf16) on CPU.
* :func:`register_config_scope` - ``_base_ = ['cim_mm::...']`` inheritance.
* :func:`shutdown_distributed` - destroy the process groups before the
  interpreter exits (called by ``tools/train.py`` and ``tools/test.py``).
"""
import contextlib
import contextvars
import errno
import functools
import gc
import importlib
import importlib.machinery
import logging
import os.path as osp
import pickle
import sys
import types
import weakref

import torch
import torch.distributed as torch_dist
import mmengine.config.config as mmengine_config_module
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.device import get_device
from mmengine.dist import utils as dist_utils
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner import CheckpointLoader, FlexibleRunner, Runner

__all__ = [
    'UntrustedCheckpointError', 'trusted_checkpoints', 'CPUAmpOptimWrapper',
    'patch_checkpoint_loading', 'patch_distributed_without_gpu',
    'install_mmcv_ext_stand_in', 'register_cpu_amp_optim_wrapper',
    'register_config_scope', 'shutdown_distributed', 'apply_all'
]

# Set on every function this module installs, so applying twice is a no-op.
_PATCH_MARK = '_cim_mm_compat_patch'


def _patch(owner, name, make_replacement):
    """Replace ``owner.name`` by ``make_replacement(original)`` once."""
    original = getattr(owner, name)
    if getattr(original, _PATCH_MARK, False):
        return
    replacement = make_replacement(original)
    setattr(replacement, _PATCH_MARK, True)
    setattr(owner, name, replacement)


# ---------------------------------------------------------------------------
# (a) Checkpoint loading under torch >= 2.6
# ---------------------------------------------------------------------------
_TRUSTED_CHECKPOINT = contextvars.ContextVar(
    'cim_mm_trusted_checkpoint', default=False)


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint from outside the runner holds pickled Python objects."""


def _refusal_message(filename, reason):
    return (f"Refused to load checkpoint '{filename}': it contains pickled "
            f'Python objects, not just tensors ({reason}), and checkpoints '
            'from outside the runner are loaded with '
            'torch.load(weights_only=True). If it is a trusted mmengine '
            'checkpoint, load it through the runner (`load_from=...` or '
            '`resume=True`, i.e. tools/train.py --resume) or, from Python, '
            'inside `with cim_mm.compat.trusted_checkpoints():`. Otherwise '
            'convert it to a plain state dict once, in a session where you '
            'trust the file: torch.save(torch.load(path, weights_only=False)'
            "['state_dict'], new_path).")


def _weights_only_reason(err):
    """The one-sentence cause inside torch's long weights_only message."""
    message = str(err)
    marker = 'WeightsUnpickler error: '
    if marker not in message:
        return message
    return message.split(marker, 1)[1].split('. ', 1)[0]


@contextlib.contextmanager
def trusted_checkpoints():
    """Within this context, local checkpoints are fully unpickled.

    The runner's own ``load_checkpoint``/``resume`` run inside it; use it
    directly only for files you trust (pickles can execute code).
    """
    token = _TRUSTED_CHECKPOINT.set(True)
    try:
        yield
    finally:
        _TRUSTED_CHECKPOINT.reset(token)


def load_from_local(filename, map_location=None):
    """mmengine's local-file checkpoint scheme with a trust policy.

    Named like mmengine's loader because ``CheckpointLoader`` logs the backend
    as ``__name__[10:]`` ("local").
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(errno.ENOENT, 'Checkpoint file not found',
                                filename)
    weights_only = not _TRUSTED_CHECKPOINT.get()
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        if weights_only and 'Weights only load failed' in str(err):
            raise UntrustedCheckpointError(
                _refusal_message(filename, _weights_only_reason(err))) from err
        raise


def _run_trusted(method):
    """Wrap a runner method so the checkpoints it loads are trusted."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with trusted_checkpoints():
            return method(*args, **kwargs)

    return wrapper


def patch_checkpoint_loading():
    """Let the runner resume/load its own checkpoints under torch >= 2.6.

    Upstream: torch >= 2.6 loads with ``weights_only=True`` by default, and
    mmengine 0.10.7 checkpoints pickle ``HistoryBuffer``, numpy objects and
    ``builtins.getattr`` (message hub), so ``resume`` and ``load_from`` fail
    with an ``UnpicklingError``.

    Policy: ``Runner``/``FlexibleRunner`` ``load_checkpoint`` and ``resume``
    (the runner's own checkpoints: ``load_from``, ``resume``) fully unpickle
    local files; every other local load (``init_cfg=dict(type='Pretrained')``,
    ``mmengine.runner.load_checkpoint``, ``CheckpointLoader``) keeps
    ``weights_only=True`` and raises :class:`UntrustedCheckpointError`
    explaining the refusal. Remote schemes (http, s3, ...) are untouched.

    Remove when mmengine saves weights-only-loadable checkpoints or passes
    ``weights_only`` itself (not the case in 0.10.7).
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    for runner_cls in (Runner, FlexibleRunner):
        _patch(runner_cls, 'load_checkpoint', _run_trusted)
        _patch(runner_cls, 'resume', _run_trusted)


# ---------------------------------------------------------------------------
# (b) Distributed launch on a machine without a GPU
# ---------------------------------------------------------------------------
def _init_dist_pytorch_without_gpu(original):

    @functools.wraps(original)
    def init(backend, init_backend='torch', **kwargs):
        if init_backend != 'torch' or get_device() != 'cpu':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend != 'gloo':
            print_log(
                f"No GPU available: the configured distributed backend "
                f"'{backend}' is replaced by 'gloo'.",
                logger='current',
                level=logging.WARNING)
        torch_dist.init_process_group(backend='gloo', **kwargs)

    return init


def _ddp_init_for_cpu_modules(original):

    @functools.wraps(original)
    def __init__(self, module, *args, **kwargs):
        if kwargs.get('device_ids') is not None and all(
                p.device.type == 'cpu' for p in module.parameters()):
            kwargs['device_ids'] = None
        original(self, module, *args, **kwargs)

    return __init__


def patch_distributed_without_gpu():
    """Make ``--launcher pytorch`` train on CPU-only machines.

    Upstream: mmengine 0.10.7's ``_init_dist_pytorch`` calls
    ``torch.cuda.set_device`` unconditionally and uses the configured backend
    (usually nccl); ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]``
    to ``MMDistributedDataParallel``, which DDP rejects for CPU modules.

    Fix: without any accelerator, ``_init_dist_pytorch`` (looked up by
    ``init_dist`` at call time) initialises a gloo process group and makes no
    CUDA call; ``MMDistributedDataParallel`` drops ``device_ids`` for modules
    whose parameters are all on CPU. GPU machines are unaffected.

    Remove when mmengine supports CPU distributed training itself.
    """
    _patch(dist_utils, '_init_dist_pytorch', _init_dist_pytorch_without_gpu)
    _patch(MMDistributedDataParallel, '__init__', _ddp_init_for_cpu_modules)


# ---------------------------------------------------------------------------
# (c) mmcv-lite: no compiled ops
# ---------------------------------------------------------------------------
class _MissingCompiledOps(types.ModuleType):
    """Stands in for ``mmcv._ext``: every op exists and fails when called."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)

        def missing_op(*args, **kwargs):
            raise RuntimeError(
                f"mmcv compiled op '{name}' is not available: this "
                'environment has mmcv-lite (no compiled ops). CIM '
                'pre-training and UperNet+ViT do not need them; install full '
                'mmcv (MMCV_WITH_OPS=1 pip install mmcv==2.1.0 '
                f'--no-build-isolation) to use {name}.')

        missing_op.__name__ = missing_op.__qualname__ = name
        return missing_op


def install_mmcv_ext_stand_in():
    """Let ``import mmseg.models`` succeed with mmcv-lite.

    Upstream: mmsegmentation 1.2.2 imports ``mmcv.ops`` (``point_sample``,
    focal loss) at import time, and ``mmcv.ops`` loads the compiled
    ``mmcv._ext``, which mmcv-lite lacks.

    Fix: when ``mmcv._ext`` is missing (and only then: a real but broken
    build keeps its own ImportError), register a stand-in whose ops raise a
    clear RuntimeError when called. The ViT/UperNet paths call none.

    Remove when mmseg stops importing compiled ops eagerly or full mmcv
    wheels exist for the torch in use.
    """
    if 'mmcv._ext' in sys.modules:
        return
    try:
        importlib.import_module('mmcv._ext')
        return
    except ModuleNotFoundError as err:
        if err.name != 'mmcv._ext':  # mmcv itself is not installed
            return
    except ImportError:  # a compiled build that fails to load: keep its error
        return
    import mmcv
    stand_in = _MissingCompiledOps(
        'mmcv._ext', 'cim_mm stand-in for mmcv-lite (no compiled ops)')
    # A spec without loader: importlib sees a module that cannot be loaded,
    # so mmengine's ``mmcv_full_available()`` stays False.
    stand_in.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    sys.modules['mmcv._ext'] = stand_in
    mmcv._ext = stand_in


# ---------------------------------------------------------------------------
# (d) Mixed precision on CPU
# ---------------------------------------------------------------------------
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` running forward and loss under CPU bf16 autocast.

    bf16 keeps fp32's exponent range, so no loss scaling is needed.
    """

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield


def register_cpu_amp_optim_wrapper():
    """Register :class:`CPUAmpOptimWrapper` in mmengine's OPTIM_WRAPPERS.

    Upstream: mmengine 0.10.7's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU
    (it is built on ``torch.cuda.amp.GradScaler``), although bf16 autocast
    works on CPU. It is faster only on CPUs with bf16 units (AMX /
    AVX512-BF16); without them a CIM ViT-B step is ~3x slower than fp32.
    ``tools/train.py --amp`` picks this wrapper on machines without a GPU.

    Remove when mmengine's ``AmpOptimWrapper`` accepts CPU.
    """
    OPTIM_WRAPPERS.register_module(module=CPUAmpOptimWrapper, force=True)


def register_config_scope():
    """Let configs inherit ours with ``_base_ = ['cim_mm::folder/file.py']``.

    Upstream: mmengine 0.10.7 resolves ``package::path`` only for the
    packages in its hard-coded ``MODULE2PACKAGE`` table (OpenMMLab's own),
    then reads ``<installed package>/.mim/configs/path``; ``cim_mm/.mim``
    links to this repository's ``configs/``. (mmengine also requires a folder
    in the path: ``cim_mm::finetune/x.py``, not ``cim_mm::x.py``.)

    mmengine finds the package folder with ``get_installed_path``, which for
    an editable install (``pip install -e .``) names a ``site-packages/cim_mm``
    that does not exist; for ``cim_mm`` it now returns the imported package's
    folder, wherever it is.

    Only effective once ``cim_mm`` is imported: mmengine parses ``_base_``
    before it applies ``custom_imports``, so configs run through
    mmseg's/mmpretrain's own ``tools/train.py`` must inherit ours by file
    path; ``tools/train.py`` of this repository imports cim_mm first.

    Remove when mmengine accepts third-party packages there.
    """
    MODULE2PACKAGE.setdefault('cim_mm', 'cim_mm')
    package_dir = osp.dirname(osp.abspath(__file__))

    def make(original):

        @functools.wraps(original)
        def get_installed_path(package):
            if package == 'cim_mm':
                return package_dir
            return original(package)

        return get_installed_path

    _patch(mmengine_config_module, 'get_installed_path', make)


# ---------------------------------------------------------------------------
# (e) Distributed teardown before interpreter exit
# ---------------------------------------------------------------------------
def _owner_names(referrer):
    """Type names of what holds ``referrer``: for an attribute dict, its
    owner object(s), else the referrer itself."""
    if isinstance(referrer, dict):
        owners = [
            type(obj).__name__ for obj in gc.get_referrers(referrer)
            if getattr(obj, '__dict__', None) is referrer
        ]
        if owners:
            return owners
    return [type(referrer).__name__]


def shutdown_distributed(barrier=True):
    """Destroy every process group while the interpreter is fully alive.

    Upstream: mmengine 0.10.7 never destroys its process group, and the
    finished runner keeps it referenced (the DDP wrapper and its reducer sit
    in the runner's reference cycles), so it lives on until ``Py_Finalize``.
    A gloo worker thread (``pt_gloo_runloop``) releases a finished
    collective's tensors after ``wait()`` has returned; when it does so
    while the interpreter finalizes, it cannot take the GIL to drop the
    tensors' Python objects, the thread is unwound through a ``noexcept``
    frame and the process dies with ``terminate called without an active
    exception`` (SIGABRT) after a successful run: 5 of 45 two-process
    ``dist_train.sh`` CPU runs under load with torch 2.14. A bare
    ``destroy_process_group()`` does not help: it only unregisters the group,
    whose C++ object (and threads) outlive it as long as the runner does.

    Fix: collect the unreferenced runner (``gc.collect()``), wait for every
    rank (``barrier``, skip it on an error path where a peer may be gone),
    destroy all groups (mmengine's local group too) and check that they are
    gone: the last reference drops with the GIL released, and the backend's
    destructor joins its worker threads. A group that something still
    references is reported by a WARNING naming its referrers.

    Returns:
        int: the number of process groups still alive (0 when the teardown
        was complete, or when no process group was initialized).

    Remove when mmengine's runner destroys its process group itself.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return 0
    gc.collect()
    if barrier:
        torch_dist.barrier()
    from torch.distributed import distributed_c10d
    groups = [weakref.ref(pg) for pg in distributed_c10d._world.pg_map]
    if dist_utils._LOCAL_PROCESS_GROUP is not None:
        groups.append(weakref.ref(dist_utils._LOCAL_PROCESS_GROUP))
        dist_utils._LOCAL_PROCESS_GROUP = None
    torch_dist.destroy_process_group()
    gc.collect()
    alive = [pg for pg in (ref() for ref in groups) if pg is not None]
    if alive:
        referrers = sorted({
            name
            for pg in alive for obj in gc.get_referrers(pg)
            if obj is not alive and not isinstance(obj, types.FrameType)
            for name in _owner_names(obj)
        })
        print_log(
            f'{len(alive)} destroyed process group(s) are still referenced '
            f'(by: {", ".join(referrers) or "C++ objects"}); their backend '
            'threads live until interpreter exit, where they can abort the '
            'process (SIGABRT). Drop the references (runner, model wrapper) '
            'before the end of the program.',
            logger='current',
            level=logging.WARNING)
    return len(alive)


def apply_all():
    """Apply every adaptation (idempotent); called by ``import cim_mm``."""
    patch_checkpoint_loading()
    patch_distributed_without_gpu()
    install_mmcv_ext_stand_in()
    register_cpu_amp_optim_wrapper()
    register_config_scope()


apply_all()
