"""cim_mm.checkpoint.atomic_backend: the registered 'cim_atomic_local'
backend writes through write_atomically, and atomic_backend_args asks for it
only for a local out dir without a backend of the caller's own."""
import pytest
from mmengine.fileio import get_file_backend, join_path

from cim_mm.checkpoint import (ATOMIC_BACKEND, AtomicLocalBackend,
                               atomic_backend, atomic_backend_args)


@pytest.fixture
def atomic_writes(monkeypatch):
    """The paths AtomicLocalBackend writes (through write_atomically)."""
    paths = []
    original = atomic_backend.write_atomically

    def spy(path, data, encoding='utf-8'):
        paths.append(str(path))
        original(path, data, encoding=encoding)

    monkeypatch.setattr(atomic_backend, 'write_atomically', spy)
    return paths


def test_the_backend_args_select_the_atomic_backend_for_a_local_path(
        tmp_path, atomic_writes):
    args = atomic_backend_args(str(tmp_path))
    assert args == dict(backend=ATOMIC_BACKEND)
    # What mmengine's save_checkpoint does with them.
    path = join_path(str(tmp_path), 'iter_2.pth', backend_args=args)
    backend = get_file_backend(path, backend_args=args)
    assert type(backend) is AtomicLocalBackend
    backend.put(b'weights', path)
    backend.put_text('text', str(tmp_path / 'f.txt'), encoding='ascii')
    assert atomic_writes == [path, str(tmp_path / 'f.txt')]
    assert (tmp_path / 'iter_2.pth').read_bytes() == b'weights'
    assert (tmp_path / 'f.txt').read_text() == 'text'


@pytest.mark.parametrize('out_dir,backend_args,file_client_args', [
    ('s3://bucket/work', None, None),
    ('http://host/work', None, None),
    ('work_dirs/run', dict(backend='local'), None),
    ('work_dirs/run', None, dict(backend='disk')),
])
def test_a_callers_backend_or_a_remote_out_dir_is_left_as_it_is(
        out_dir, backend_args, file_client_args):
    assert atomic_backend_args(out_dir, backend_args,
                               file_client_args) is backend_args
