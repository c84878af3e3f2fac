"""``import cim_mm`` registers CIM's components and changes nothing else;
``import cim_mm.compat.enable`` is the one switch for the stack adaptations.

Each check runs in a fresh interpreter (what a user's process sees), so these
tests are slow.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')

# In a fresh interpreter: every upstream module that cim_mm imports is
# imported first, then everything reachable from those modules is recorded
# (module attributes and class attributes, by identity), plus the upstream
# state that the adaptations change through containers, and process-wide
# settings. Then ``import cim_mm``, a CIM model built and run, a second
# snapshot; then optionally the switch, a third.
SNAPSHOT_SCRIPT = r'''
import json, logging, os, signal, sys, warnings
UPSTREAM = ('mmengine', 'mmpretrain', 'mmseg', 'mmcv', 'torch')

def upstream_modules():
    return sorted(name for name, module in list(sys.modules.items())
                  if module is not None and name.split('.')[0] in UPSTREAM)

for name in json.loads(sys.argv[1]):
    try:
        __import__(name)
    except Exception:
        pass
import cv2, torch
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.runner import CheckpointLoader

kept = []  # every recorded object stays alive: ids are never reused

def snapshot():
    objects = {}
    for name in upstream_modules():
        module = sys.modules[name]
        for attr, value in list(vars(module).items()):
            if type(value).__name__ == 'module':
                continue  # submodules appear as they are imported
            objects[f'{name}.{attr}'] = id(value)
            kept.append(value)
            if isinstance(value, type) and value.__module__ == name:
                for key, member in list(vars(value).items()):
                    objects[f'{name}.{attr}.{key}'] = id(member)
                    kept.append(member)
    return dict(
        objects=objects,
        checkpoint_schemes={k: id(v) for k, v in
                            CheckpointLoader._schemes.items()},
        module2package=dict(MODULE2PACKAGE),
        mmcv_ext='mmcv._ext' in sys.modules,
        sigterm=str(signal.getsignal(signal.SIGTERM)),
        environ=dict(os.environ),
        torch_threads=torch.get_num_threads(),
        cv2_threads=cv2.getNumThreads(),
        default_dtype=str(torch.get_default_dtype()),
        # (not pkg_resources' own: mmengine reloads it to find a mmpretrain::
        # config base, and each reload adds a filter for a new class)
        warning_filters=len([f for f in warnings.filters if getattr(
            f[2], '__module__', '') != 'pkg_resources']),
        root_handlers=len(logging.getLogger().handlers))

before = snapshot()
import cim_mm
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
# the model only: the shipped config's custom_imports name the switch
cfg = Config.fromfile(sys.argv[2], import_custom_modules=False)
cfg.model.backbone.arch.num_layers = 1
with DefaultScope.overwrite_default_scope('mmpretrain'):
    model = MODELS.build(cfg.model)
model.init_weights()
after = snapshot()
states = [before, after]
if sys.argv[3] == 'enable':
    import cim_mm.compat.enable
    states.append(snapshot())
print(json.dumps(states))
'''

LIST_SCRIPT = r'''
import json, sys
import cim_mm
print(json.dumps(sorted(
    name for name in sys.modules
    if name.split('.')[0] in ('mmengine', 'mmpretrain', 'mmseg', 'mmcv',
                              'torch'))))
'''


def run_python(script, *args):
    result = subprocess.run([sys.executable, '-c', script, *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# Upstream's own bookkeeping while a model is built, not a replacement:
IGNORED = {
    # DefaultScope.overwrite_default_scope restores a copy of this dict
    'mmengine.registry.default_scope.DefaultScope._instance_dict',
    # the counter of the hook handles that building a model registers
    'torch.utils.hooks.RemovableHandle.next_id',
}


def differences(before, after):
    """What changed between two snapshots: replaced or removed upstream
    objects (added non-module attributes count as changes too), and every
    other recorded setting that differs."""
    changed = sorted(
        key for key in before['objects'].keys() | after['objects'].keys()
        if before['objects'].get(key) != after['objects'].get(key)
        # new upstream modules imported on the way are not a change
        and key in before['objects'] and key not in IGNORED)
    changed += [
        key for key in before if key != 'objects' and before[key] != after[key]
    ]
    return changed


@pytest.fixture(scope='module')
def snapshots():
    upstream = run_python(LIST_SCRIPT)
    return run_python(SNAPSHOT_SCRIPT, json.dumps(upstream), DEMO_CONFIG,
                      'enable')


@pytest.mark.slow
def test_import_cim_mm_and_building_a_model_change_nothing_upstream(
        snapshots):
    before, after, _ = snapshots
    assert len(before['objects']) > 10000  # torch, mmengine, ... recorded
    assert differences(before, after) == []


@pytest.mark.slow
def test_the_switch_applies_only_the_adaptations_without_extension_point(
        snapshots):
    _, registered, enabled = snapshots
    changed = differences(registered, enabled)
    # the process-wide adaptations of docs/stack.md, each seen to change what
    # it adapts, and nothing else (resume, atomic checkpoints, DDP without a
    # GPU, worker signals: CIMRunner / AtomicCheckpointHook, chosen by the
    # config)
    expected = {
        'mmengine.config.config.get_installed_path',
        'mmengine.config.config.is_installed',
        'mmengine.runner.checkpoint.CheckpointLoader._schemes',
        'checkpoint_schemes', 'module2package', 'mmcv_ext',
    }
    assert set(changed) == expected, sorted(set(changed) ^ expected)
