"""AtomicCheckpointHook (with CIMRunner's resume): a save that dies
half-way (injected at a fixed checkpoint, not raced) leaves the previous
checkpoint and pointer, even with max_keep_ckpts=1, and --resume continues
from it; an empty pointer is resumed through. Only checkpoints (and the
pointer) are written atomically: mmengine's other writes are as upstream,
whatever cim_mm imports."""
import os
import stat

import mmengine
import pytest
from mmengine.fileio.backends import LocalBackend
from mmengine.registry import RUNNERS

import cim_mm.compat.enable  # noqa: F401
from cim_mm.checkpoint import atomic_write, checkpoint_problem


class SimulatedKill(BaseException):
    """The process dies here (raised through the runner)."""


def dying_write_of(name):
    """A ``_write_chunks`` that dies half-way through writing ``name``."""
    original = atomic_write._write_chunks

    def write(file, data):
        if f'.{name}.' not in os.path.basename(file.name):
            return original(file, data)
        file.write(memoryview(data)[:len(data) // 2])
        raise SimulatedKill(name)

    return write


def pointer(work_dir):
    return (work_dir / 'last_checkpoint').read_text()


def test_dying_save_keeps_the_previous_checkpoint_and_resume_uses_it(
        toy_class_images, toy_cfg, tmp_path, monkeypatch):
    cfg = toy_cfg(toy_class_images, tmp_path, 'dying_save',
                  **{'default_hooks.checkpoint.max_keep_ckpts': 1})
    monkeypatch.setattr(atomic_write, '_write_chunks',
                        dying_write_of('iter_4.pth'))
    with pytest.raises(SimulatedKill):
        RUNNERS.build(cfg).train()
    # Upstream deleted iter_2.pth before writing iter_4.pth in place.
    assert checkpoint_problem(str(tmp_path / 'iter_2.pth')) is None
    assert not (tmp_path / 'iter_4.pth').exists()
    assert pointer(tmp_path) == str(tmp_path / 'iter_2.pth')

    monkeypatch.undo()
    cfg.resume = True
    runner = RUNNERS.build(cfg)
    runner.train()
    assert runner.iter == 4
    # Rotation happens after the new checkpoint and pointer are in place.
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_4.pth']
    assert pointer(tmp_path) == str(tmp_path / 'iter_4.pth')


def test_resume_with_an_empty_pointer_continues_from_the_newest(
        toy_class_images, toy_cfg, tmp_path):
    cfg = toy_cfg(toy_class_images, tmp_path, 'empty_pointer')
    RUNNERS.build(cfg).train()
    (tmp_path / 'last_checkpoint').write_text('')
    cfg.merge_from_dict({'resume': True, 'train_cfg.max_iters': 6})
    runner = RUNNERS.build(cfg)
    runner.train()
    assert runner.iter == 6
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert 'last_checkpoint is empty' in log
    assert 'resumed epoch: 0, iter: 4' in log


def test_local_backend_writes_are_upstreams(tmp_path):
    for method in (LocalBackend.put, LocalBackend.put_text):
        assert method.__module__ == 'mmengine.fileio.backends.local_backend'
    # A private file stays private, a link stays a link.
    private = tmp_path / 'private.json'
    private.write_text('{}')
    private.chmod(0o600)
    mmengine.fileio.dump({'a': 1}, str(private))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    link = tmp_path / 'scalars.json'
    link.symlink_to(private)
    mmengine.fileio.dump({'b': 2}, str(link))
    assert link.is_symlink() and mmengine.fileio.load(str(private)) == {
        'b': 2}


@pytest.mark.parametrize('backend_args,atomic', [(None, True),
                                                 (dict(backend='local'),
                                                  False)])
def test_checkpoint_hook_saves_atomically_unless_given_a_backend(
        toy_class_images, toy_cfg, tmp_path, atomic_writes, backend_args,
        atomic):
    cfg = toy_cfg(toy_class_images, tmp_path, f'hook_backend_{atomic}', **{
        'train_cfg.max_iters': 2,
        'default_hooks.checkpoint.backend_args': backend_args})
    RUNNERS.build(cfg).train()
    # Only the checkpoint: logs, scalars and the config dump are not.
    assert atomic_writes == (['iter_2.pth'] if atomic else [])
    assert checkpoint_problem(str(tmp_path / 'iter_2.pth')) is None
    assert pointer(tmp_path) == str(tmp_path / 'iter_2.pth')
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
