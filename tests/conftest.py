"""Shared fixtures: real offline photos and a tiny CIM training config.

Tests that launch a Python process (a tool, torchrun, a launch script running
this interpreter), train more than a few iterations or write a full-size
(ViT-B) checkpoint are marked ``@pytest.mark.slow``; ``make test-quick``
(``pytest -m "not slow"``) leaves them out. The ``pytest_runtest_protocol`` hook
below makes an unmarked test that launches Python fail with that advice.
"""
import contextlib
import importlib.util
import io
import os
import os.path as osp
import random
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config

# The suite runs as the shipped configs and tools do: with the 2026-stack
# adaptations switched on. What `import cim_mm` alone does is tested in fresh
# interpreters (tests/test_compat/test_import_boundary.py).
import cim_mm.compat.enable  # noqa: E402,F401
from cim_mm.datasets.pair_synthesis_collate import \
    one_torch_thread as one_thread  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')


@pytest.fixture(autouse=True)
def seed_global_rngs():
    """Seed random, numpy and torch before each test, so that its draws do
    not depend on test order or on what earlier tests (Runners, seeding
    tests) left in the global RNGs."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def _launches_python(args, env):
    """Whether ``Popen(args, env=env)`` starts this Python interpreter, or
    torchrun, directly or through a script that runs ``$PYTHON``."""
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    if not argv:
        return False
    program = os.fsdecode(argv[0]).split()[0]
    interpreter = osp.realpath(sys.executable)
    found = shutil.which(program) or program
    if osp.realpath(found) == interpreter:
        return True
    if osp.basename(program) in ('torchrun', 'python', 'python3') and \
            not osp.isfile(program):
        return True  # a bare name found on PATH
    run_env = os.environ if env is None else env
    python = run_env.get('PYTHON')
    return bool(python) and osp.realpath(python) == interpreter


class _QuickTierPopen(subprocess.Popen):
    """``subprocess.Popen`` that refuses to start Python (see the module
    docstring): the test launching it belongs in the slow tier."""

    def __init__(self, args, *rest, **kwargs):
        if _launches_python(args, kwargs.get('env')):
            raise RuntimeError(
                f'this test launches Python ({args!r}): launches take seconds '
                'each and belong in the slow tier; mark the test '
                '@pytest.mark.slow (tests/conftest.py)')
        super().__init__(args, *rest, **kwargs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test not marked slow, its fixtures included, may not launch Python."""
    if item.get_closest_marker('slow') is not None:
        yield
        return
    original = subprocess.Popen
    subprocess.Popen = _QuickTierPopen
    try:
        yield
    finally:
        subprocess.Popen = original


def run_tool_main(path, *args):
    """The command-line tool at ``path`` (a ``main(argv)`` under ``if
    __name__ == '__main__': sys.exit(main())``) run in this process, as
    ``python path args...`` would: its exit status (``SystemExit`` handled as
    the interpreter does: a message goes to stderr with status 1), stdout
    and stderr. Seconds cheaper than a subprocess."""
    spec = importlib.util.spec_from_file_location(
        '_tool_' + osp.splitext(osp.basename(path))[0], path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = tool.main([str(arg) for arg in args])
        except SystemExit as exit_:
            code = exit_.code
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
    return SimpleNamespace(returncode=code or 0, stdout=out.getvalue(),
                           stderr=err.getvalue())


@pytest.fixture(name='run_tool_main', scope='session')
def run_tool_main_fixture():
    return run_tool_main


@pytest.fixture(scope='module')
def one_torch_thread():
    """torch on one thread for a module of tiny tensor operations (use with
    ``pytestmark = pytest.mark.usefixtures('one_torch_thread')``): one
    thread runs them as fast as two, and idle intra-op threads spinning for
    a busy core made them up to 15x slower on a loaded 2-core machine."""
    with one_thread():
        yield


@pytest.fixture
def atomic_writes(monkeypatch):
    """The base names of the files written through cim_mm's atomic
    checkpoint backend during the test, in order (a spy that still writes)."""
    from cim_mm.checkpoint import atomic_backend
    written = []
    original = atomic_backend.write_atomically

    def spy(path, data, encoding='utf-8'):
        written.append(osp.basename(path))
        original(path, data, encoding=encoding)

    monkeypatch.setattr(atomic_backend, 'write_atomically', spy)
    return written


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory):
    """The demo photos (train/ and val/) written once per test session."""
    from cim_mm.utils import write_demo_images
    root = str(tmp_path_factory.mktemp('cim_demo_data'))
    write_demo_images(root)
    return root


@pytest.fixture(scope='session')
def toy_class_images(tmp_path_factory):
    """Three class folders of two real photos each (skimage's bundled set),
    for the classification toy config of the compat and launcher tests."""
    import skimage.data
    from PIL import Image
    root = tmp_path_factory.mktemp('toy_images')
    for name in ('astronaut', 'chelsea', 'coffee'):
        image = getattr(skimage.data, name)()
        (root / name).mkdir(parents=True)
        half = image.shape[1] // 2
        Image.fromarray(image[:, :half]).save(root / name / 'left.png')
        Image.fromarray(image[:, half:]).save(root / name / 'right.png')
    return root


def tiny_demo_cfg_options(data_root, max_iters=4, batch_size=2):
    """`--cfg-options` that shrink configs/cim_demo.py to a seconds-long run."""
    return {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.dataset.data_root': data_root,
        'test_dataloader.dataset.dataset.data_root': data_root,
        'val_dataloader.dataset.times': 1,
        'test_dataloader.dataset.times': 1,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'test_dataloader.num_workers': 0,
        'model.backbone.arch.num_layers': 2,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'param_scheduler.0.end': 1,
        'param_scheduler.1.begin': 1,
        'param_scheduler.1.end': max_iters,
        'param_scheduler.1.T_max': max_iters - 1,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
    }


@pytest.fixture(name='tiny_demo_cfg_options', scope='session')
def tiny_demo_cfg_options_fixture():
    return tiny_demo_cfg_options


@pytest.fixture
def tiny_demo_cfg(demo_data_root, tmp_path):
    """configs/cim_demo.py shrunk to a 4-iteration run in tmp_path, named
    after tmp_path (unique per test) so Runners never share instances."""
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(tiny_demo_cfg_options(demo_data_root))
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.experiment_name = tmp_path.name
    return cfg


TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'toy_config.py')


def toy_cfg(data_root, work_dir, name, **overrides):
    """tests/data/toy_config.py (a tiny classifier) on ``data_root``."""
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.merge_from_dict({
        f'{split}_dataloader.dataset.data_root': str(data_root)
        for split in ('train', 'val', 'test')
    })
    cfg.merge_from_dict(
        dict(work_dir=str(work_dir), experiment_name=name, **overrides))
    return cfg


@pytest.fixture(name='toy_cfg')
def toy_cfg_fixture():
    return toy_cfg


@pytest.fixture(scope='session')
def toy_runner_checkpoint(toy_class_images, tmp_path_factory):
    """A checkpoint saved by an mmengine runner after 2 training iterations
    of the toy classifier (message hub, optimizer, schedulers, meta)."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('toy_trained')
    cfg = toy_cfg(toy_class_images, work_dir, 'toy_runner_checkpoint',
                  **{'train_cfg.max_iters': 2})
    Runner.from_cfg(cfg).train()
    return work_dir / 'iter_2.pth'


@pytest.fixture(scope='session')
def draw():
    """``draw(transform_cfg, count, seed=0)``: the outputs of a registered
    transform on three real photos (BGR) in turn, each call seeded."""
    import skimage.data
    from mmpretrain.registry import TRANSFORMS
    photos = [
        f()[..., ::-1].copy() for f in (skimage.data.astronaut,
                                        skimage.data.chelsea,
                                        skimage.data.coffee)
    ]

    def run(transform_cfg, count, seed=0):
        transform = TRANSFORMS.build(transform_cfg)
        out = []
        for i in range(count):
            np.random.seed(seed + i)
            random.seed(seed + i)
            out.append(transform({'img': photos[i % len(photos)].copy()}))
        return out

    return run


@pytest.fixture(scope='session')
def tiny_cim_run(demo_data_root, tmp_path_factory):
    """(config file written by the runner, iter_2.pth) of 2 CIM steps of
    the demo's model with 2 layers (96 px contexts, 48 px exemplars): a real
    runner checkpoint, trained once per test session."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('tiny_cim_run')
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(tiny_demo_cfg_options(demo_data_root, max_iters=2))
    cfg.merge_from_dict({
        'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None,
        'test_cfg': None, 'test_dataloader': None, 'test_evaluator': None
    })
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = work_dir.name
    Runner.from_cfg(cfg).train()
    return str(work_dir / 'cim_demo.py'), str(work_dir / 'iter_2.pth')


@pytest.fixture(scope='session')
def nonsquare_photos(tmp_path_factory):
    """Two real, non-square photos as PNG: coffee 600x400, chelsea
    451x300."""
    import cv2
    import skimage.data
    root = tmp_path_factory.mktemp('nonsquare_photos')
    paths = {}
    for name in ('coffee', 'chelsea'):
        paths[name] = str(root / f'{name}.png')
        cv2.imwrite(paths[name], getattr(skimage.data, name)()[..., ::-1])
    return paths


@pytest.fixture(scope='session')
def knn_folders(tmp_path_factory):
    """(train, val): labelled ``<class>/<image>`` folders for k-NN, 3
    classes (48 x 48 crops of skimage's astronaut, chelsea and coffee), 4
    training and 2 validation PNGs each."""
    import cv2
    import skimage.data
    root = tmp_path_factory.mktemp('knn_folders')
    for name in ('astronaut', 'chelsea', 'coffee'):
        image = getattr(skimage.data, name)()[..., ::-1]
        h, w = image.shape[:2]
        for split, offsets in (('train', range(4)), ('val', range(4, 6))):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in offsets:
                y, x = (i % 3) * h // 6, (i % 2) * w // 4 + (i // 3) * w // 8
                crop = image[y:y + h // 2, x:x + w // 2]
                cv2.imwrite(str(root / split / name / f'{i}.png'),
                            cv2.resize(crop, (48, 48),
                                       interpolation=cv2.INTER_AREA))
    return str(root / 'train'), str(root / 'val')
