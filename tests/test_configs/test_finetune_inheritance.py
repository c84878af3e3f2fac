"""The fine-tuning configs inherit mmpretrain's bases and resolve as before.

``tests/data/finetune_resolved/<config>.json`` holds each config's
``Config.fromfile(path).to_dict()`` from before the configs inherited
mmpretrain's bases (``normalise``d, ``json.dumps(sort_keys=True, indent=1,
default=str)``). A config must still resolve to those values, up to the
differences listed in ``ALLOWED``, each of which is without effect. (The
snapshots' ``custom_imports`` were updated once since: the shared runtime now
names the stack-adaptation switch, ``cim_mm.compat.enable``.)
"""
import ast
import fnmatch
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401  (registers the cim_mm:: scope)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FINETUNE = osp.join(REPO, 'configs', 'finetune')
SNAPSHOTS = osp.join(REPO, 'tests', 'data', 'finetune_resolved')
CONFIGS = [
    'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py',
    'vit-small-p16_cim-pre_8xb256-amp-coslr-200e_in1k.py',
    'vit-base-p16_cim-pre-in200_8xb256-amp-coslr-100e_in200.py',
    'resnet50_cim-pre_8xb256-amp-coslr-100e_in1k.py',
    'resnet50_cim-pre_8xb256-amp-coslr-300e_in1k.py',
]
MISSING = '<missing>'

# (key path pattern (fnmatch), reason): keys that the mmpretrain bases add to
# the resolved config; only additions are allowed, nothing removed or changed.
ALLOWED = [
    ('*_scope_', "recorded on the dicts of `mmpretrain::` bases; the configs "
     "run under default_scope='mmpretrain', so Registry.build pops it and "
     'looks up in the same registries'),
    ('data_preprocessor', "top-level preprocessor of mmpretrain's dataset "
     'bases: Runner and mmpretrain.get_model only `setdefault` it into '
     '`model`, which has its own `model.data_preprocessor`'),
    ('warmup_epochs', "helper variable of mmpretrain's AdamW schedule base "
     '(set to the 5 warmup epochs the ViT schedule uses); nothing reads it'),
    ('crop095_test_pipeline', 'helper variable of configs/finetune/_base_/'
     'test-crop0.95_loaders.py: the snapshot\'s test pipeline, compared '
     'where it is used (val/test dataloaders)'),
    ('loader_workers', 'helper variable of the same base: the snapshot\'s '
     'loader settings, compared where they are used'),
    ('default_hooks.stop_on_signal', 'added to the shared runtime after the '
     'snapshot: StopOnSignalHook acts only when the job gets SIGTERM or '
     'SIGUSR1 (saves a checkpoint and stops); training is unchanged'),
    ('runner_type', "the shared runtime's CIMRunner (added after the "
     'snapshot): mmengine\'s Runner that resumes from the newest complete '
     'checkpoint, starts gloo without a GPU and keeps stop-signal handlers '
     'in the DataLoader workers; training is unchanged'),
    ('model_wrapper_cfg', "the shared runtime's DDP arguments: the runner's "
     'own defaults (broadcast_buffers=False, find_unused_parameters=False) '
     'with device_ids=None, with which DDP takes the module\'s device (the '
     'runner\'s [LOCAL_RANK] on a GPU; CPU modules refuse device ids)'),
    ('randomness.deterministic', "mmpretrain's runtime base (now inherited "
     'by the shared runtime) states False, which is mmengine\'s default'),
]


def normalise(obj):
    """Plain JSON values: tuples become lists, anything odd a string."""
    return json.loads(json.dumps(obj, default=str))


def resolve(name):
    return normalise(Config.fromfile(osp.join(FINETUNE, name)).to_dict())


def snapshot(name):
    path = osp.join(SNAPSHOTS, osp.splitext(name)[0] + '.json')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def differences(old, new, path=''):
    """(key path, old value, new value) of every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            sub = f'{path}.{key}' if path else key
            found += differences(
                old.get(key, MISSING), new.get(key, MISSING), sub)
        return found
    if (isinstance(old, list) and isinstance(new, list)
            and len(old) == len(new)):
        found = []
        for i, (a, b) in enumerate(zip(old, new)):
            found += differences(a, b, f'{path}[{i}]')
        return found
    return [] if old == new else [(path, old, new)]


def allowed(path, old, new):
    """The reason that makes this difference harmless, or None."""
    if old != MISSING:
        return None  # a value of the snapshot was changed or removed
    for pattern, reason in ALLOWED:
        if fnmatch.fnmatchcase(path, pattern):
            if pattern == '*_scope_' and new != 'mmpretrain':
                return None
            return reason
    return None


@pytest.mark.parametrize('name', CONFIGS)
def test_config_resolves_as_its_snapshot(name):
    unexplained = [(path, old, new)
                   for path, old, new in differences(snapshot(name),
                                                     resolve(name))
                   if allowed(path, old, new) is None]
    assert not unexplained, f'{name} resolves differently:\n' + '\n'.join(
        f'  {path}: {old!r} -> {new!r}' for path, old, new in unexplained)


def test_scopes_match_the_default_scope():
    """Why `_scope_='mmpretrain'` is without effect."""
    for name in CONFIGS:
        assert Config.fromfile(osp.join(FINETUNE,
                                        name)).default_scope == 'mmpretrain'


def base_files(path):
    """The `_base_` entries of one config file, from its own text."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], 'id', None) == '_base_'):
            bases = ast.literal_eval(node.value)
            return bases if isinstance(bases, list) else [bases]
    return []


def scoped_bases(path):
    """The `scope::` bases reached through the file and its cim bases."""
    found, todo, seen = [], [path], set()
    while todo:
        current = osp.normpath(todo.pop())
        if current in seen:
            continue
        seen.add(current)
        for base in base_files(current):
            if '::' in base:
                found.append(base)
            else:
                todo.append(osp.join(osp.dirname(current), base))
    return found


@pytest.mark.parametrize('name', CONFIGS)
def test_config_inherits_mmpretrain_bases(name):
    bases = scoped_bases(osp.join(FINETUNE, name))
    assert any(b.startswith('mmpretrain::') for b in bases), bases


def build(model_cfg):
    torch.manual_seed(0)  # the same initial weights for the same modules
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(model_cfg)


def modules(model):
    return [(name, type(m).__name__) for name, m in model.named_modules()]


@pytest.mark.parametrize('name', [CONFIGS[0], CONFIGS[3]])
def test_model_with_mmpretrain_scope_builds_as_before(name):
    """The resolved `model` (with `_scope_`) builds the very same module as
    the snapshot's (without), initial weights included."""
    new = Config.fromfile(osp.join(FINETUNE, name)).model
    assert new._scope_ == 'mmpretrain'
    old = snapshot(name)['model']
    assert '_scope_' not in old
    before, after = build(old), build(new)
    assert modules(after) == modules(before)
    assert after.state_dict().keys() == before.state_dict().keys()
    for key, value in before.state_dict().items():
        assert torch.equal(after.state_dict()[key], value), key
