"""cim_mm.checkpoint.loading: the one torch.load of cim_mm and its tools,
weights only (plus a runner checkpoint's objects and a CIM release
checkpoint's argparse.Namespace), full unpickling only behind the explicit
opt-in."""
import argparse
import ast
import pathlib
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from cim_mm.checkpoint import (TRUST_ENV_VAR, CheckpointReadError,
                               UntrustedCheckpointError, read_checkpoint,
                               trusted_checkpoints)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_runner_checkpoint_needs_exactly_the_runner_allowlist(
        toy_runner_checkpoint):
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(toy_runner_checkpoint, weights_only=True)  # no allowlist
    checkpoint = read_checkpoint(toy_runner_checkpoint)
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    assert checkpoint['meta']['iter'] == 2
    assert all(
        isinstance(v, torch.Tensor) for v in checkpoint['state_dict'].values())
    # Plain weights only: the runner's objects are refused too.
    with pytest.raises(UntrustedCheckpointError, match='HistoryBuffer'):
        read_checkpoint(toy_runner_checkpoint, runner_objects=False)


def _release_like(path, **args):
    """As the CIM release's MAE-style save_model."""
    torch.save(
        dict(model={'cls_token': torch.zeros(1, 1, 4)},
             optimizer=dict(state={}, param_groups=[dict(lr=0.1)]),
             epoch=299,
             scaler=None,
             args=argparse.Namespace(**args)), path)
    return path


def test_release_checkpoint_needs_exactly_argparse_namespace(tmp_path):
    path = _release_like(tmp_path / 'checkpoint-299.pth',
                         model='cim_vit_base_patch16', blr=1.5e-4,
                         template_num=6, dist_url=None, pin_mem=True,
                         dims=[1, 2])
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == [
        'argparse.Namespace'
    ]
    checkpoint = read_checkpoint(path)
    assert isinstance(checkpoint['args'], argparse.Namespace)
    assert checkpoint['args'].model == 'cim_vit_base_patch16'
    assert checkpoint['args'].dims == [1, 2] and checkpoint['epoch'] == 299
    with pytest.raises(UntrustedCheckpointError, match='argparse.Namespace'):
        read_checkpoint(path, runner_objects=False)


def test_a_namespace_holding_other_objects_is_refused(tmp_path):
    """The Namespace class is allowed, not what it holds."""
    path = _release_like(tmp_path / 'odd.pth', output=pathlib.PurePosixPath(
        '/exps'))
    with pytest.raises(UntrustedCheckpointError,
                       match='Refused to load checkpoint.*PurePosixPath'):
        read_checkpoint(path)


def test_plain_state_dict_and_map_location(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'w': torch.arange(3.)}, path)
    loaded = read_checkpoint(path, map_location='cpu', runner_objects=False)
    assert torch.equal(loaded['w'], torch.arange(3.))


class _Attr:
    """Pickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __call__(self, *args):  # pickle wants a callable in __reduce__
        raise NotImplementedError

    def __reduce__(self):
        return getattr, (self.obj, self.name)


class _Call(_Attr):
    """Pickles as ``func(*args)``, with ``func`` any picklable object."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_getattr_in_the_allowlist_cannot_reach_os_system(tmp_path):
    # HistoryBuffer.__init__.__globals__.get('__builtins__')
    #   .get('__import__')('os').system('touch <marker>'):
    # every getattr is allowed, every call of what it fetches must not be.
    marker = tmp_path / 'pwned'
    module_globals = _Attr(_Attr(HistoryBuffer, '__init__'), '__globals__')
    builtins_dict = _Call(_Attr(module_globals, 'get'), '__builtins__')
    import_ = _Call(_Attr(builtins_dict, 'get'), '__import__')
    system = _Attr(_Call(import_, 'os'), 'system')
    path = tmp_path / 'exploit.pth'
    torch.save(
        dict(state_dict={'backbone.w': torch.zeros(1)},
             meta=_Call(system, f'touch {marker}')), path)

    with pytest.raises(UntrustedCheckpointError) as err:
        read_checkpoint(path)
    assert str(path) in str(err.value)
    assert 'reduce for unrecognized function' in str(err.value)
    assert not marker.exists()
    # The pickle is a real exploit once fully unpickled.
    torch.load(path, weights_only=False)
    assert marker.exists()


class NotAWeight:
    pass


@pytest.fixture
def object_checkpoint(tmp_path):
    path = tmp_path / 'object.pth'
    torch.save(
        dict(state_dict={'backbone.w': torch.zeros(1)}, meta=NotAWeight()),
        path)
    return path


def test_arbitrary_pickled_object_is_refused_naming_file_and_fix(
        object_checkpoint):
    with pytest.raises(UntrustedCheckpointError) as err:
        read_checkpoint(object_checkpoint)
    message = str(err.value)
    assert message.startswith(
        f"Refused to load checkpoint '{object_checkpoint}'")
    assert 'NotAWeight' in message
    assert 'trusted_checkpoints()' in message and TRUST_ENV_VAR in message


def test_trust_is_an_explicit_opt_in(object_checkpoint, monkeypatch):
    with trusted_checkpoints():
        assert isinstance(
            read_checkpoint(object_checkpoint)['meta'], NotAWeight)
    with pytest.raises(UntrustedCheckpointError):  # the context has ended
        read_checkpoint(object_checkpoint)
    for value in ('0', 'yes', ''):  # only '1' opts in
        monkeypatch.setenv(TRUST_ENV_VAR, value)
        with pytest.raises(UntrustedCheckpointError):
            read_checkpoint(object_checkpoint)
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    assert isinstance(read_checkpoint(object_checkpoint)['meta'], NotAWeight)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / 'nope.pth'
    with pytest.raises(
            FileNotFoundError,
            match=f'Checkpoint file not found: {re.escape(str(path))}'):
        read_checkpoint(path)


@pytest.mark.parametrize('content', [b'', b'not a checkpoint at all'])
def test_not_a_torch_file_is_a_read_error_naming_the_file(content, tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointReadError,
                       match=f"Cannot read '{re.escape(str(path))}' as a "
                       'torch checkpoint'):
        read_checkpoint(path)


def test_truncated_checkpoint_is_a_read_error(tmp_path):
    path = tmp_path / 'truncated.pth'
    torch.save({'w': torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointReadError, match='truncated.pth'):
        read_checkpoint(path)


def test_one_torch_load_call_site_in_the_package_and_tools():
    calls = []
    for top in ('cim_mm', 'tools'):
        for folder, _, files in os.walk(osp.join(REPO, top)):
            for name in sorted(f for f in files if f.endswith('.py')):
                path = osp.join(folder, name)
                with open(path, encoding='utf-8') as f:
                    tree = ast.parse(f.read(), path)
                calls += [
                    f'{osp.relpath(path, REPO)}:{node.lineno}'
                    for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and ast.unparse(node.func) == 'torch.load'
                ]
    assert len(calls) == 1, calls
    assert calls[0].startswith('cim_mm/checkpoint/loading.py:')
