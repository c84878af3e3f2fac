"""cim_mm.checkpoint.atomic_write: a write that dies half-way leaves the old
file byte for byte (the fault is injected, not raced)."""
import os
import stat

import pytest

from cim_mm.checkpoint import atomic_write, is_temporary_file, write_atomically


class SimulatedKill(BaseException):
    """What a kill does to the writer: the write stops here."""


def dies_half_way(file, data):
    file.write(memoryview(data)[:len(data) // 2])
    raise SimulatedKill


def test_write_replaces_the_file_with_the_default_mode(tmp_path):
    path = tmp_path / 'sub' / 'iter_2.pth'
    write_atomically(path, b'old')
    write_atomically(path, 'new text')
    assert path.read_text() == 'new text'
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(path.parent) == ['iter_2.pth']


def test_write_in_chunks_keeps_every_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_write, 'CHUNK_BYTES', 3)
    data = bytes(range(256)) * 5
    write_atomically(tmp_path / 'f', data)
    assert (tmp_path / 'f').read_bytes() == data


def test_write_dying_half_way_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'last_checkpoint'
    write_atomically(path, 'iter_2.pth')
    monkeypatch.setattr(atomic_write, '_write_chunks', dies_half_way)
    with pytest.raises(SimulatedKill):
        write_atomically(path, 'iter_4.pth')
    assert path.read_text() == 'iter_2.pth'
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_temporary_files_are_recognised():
    assert is_temporary_file('.iter_4.pth.k2j_x9a.tmp')
    assert is_temporary_file('.last_checkpoint.abc123.tmp')
    assert not is_temporary_file('iter_4.pth')
    assert not is_temporary_file('.iter_4.pth')


def test_write_keeps_the_mode_of_an_existing_file(tmp_path):
    path = tmp_path / 'secret.json'
    path.write_text('old')
    path.chmod(0o600)
    write_atomically(path, 'new')
    assert path.read_text() == 'new'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_through_a_symlink_replaces_its_target(tmp_path):
    (tmp_path / 'store').mkdir()
    target = tmp_path / 'store' / 'iter_2.pth'
    target.write_bytes(b'old')
    target.chmod(0o640)
    link = tmp_path / 'latest.pth'
    link.symlink_to(target)
    write_atomically(link, b'new')
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b'new'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path / 'store')) == ['iter_2.pth']
    # A dangling link: the file it names is created, as open(link, 'w') does.
    dangling = tmp_path / 'next.pth'
    dangling.symlink_to(tmp_path / 'store' / 'iter_4.pth')
    write_atomically(dangling, b'4')
    assert dangling.is_symlink()
    assert (tmp_path / 'store' / 'iter_4.pth').read_bytes() == b'4'
