"""cim_mm.checkpoint.latest: the checkpoint ``--resume`` continues from when
the pointer is missing, empty, stale or names a truncated file."""
import logging
import os
import shutil

import pytest
from mmengine.logging import MMLogger

from cim_mm.checkpoint import (checkpoint_problem,
                               find_latest_complete_checkpoint, write_pointer)


@pytest.fixture
def warnings(tmp_path):
    """The WARNINGs print_log(logger='current') writes during the test."""
    logger = MMLogger.get_instance(f'{tmp_path.name}_log', log_level='INFO')
    lines = []

    class Collect(logging.Handler):

        def emit(self, record):
            if record.levelno >= logging.WARNING:
                lines.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture
def work_dir(tmp_path, toy_runner_checkpoint):
    """iter_2.pth and iter_4.pth (complete, iter_4 newer), a truncated
    iter_6.pth (newest: an in-place write that died half-way) and the
    temporary file of an interrupted atomic write."""
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    data = toy_runner_checkpoint.read_bytes()
    for age, name in ((30, 'iter_2.pth'), (20, 'iter_4.pth')):
        shutil.copy(toy_runner_checkpoint, work_dir / name)
        os.utime(work_dir / name, (1e9 - age, 1e9 - age))
    (work_dir / 'iter_6.pth').write_bytes(data[:len(data) // 2])
    os.utime(work_dir / 'iter_6.pth', (1e9 - 10, 1e9 - 10))
    (work_dir / '.iter_8.pth.abc123.tmp').write_bytes(data[:100])
    (work_dir / 'backbone.pth').write_bytes(data)  # not a runner checkpoint
    return work_dir


def test_truncated_and_empty_files_are_incomplete(work_dir, tmp_path):
    assert checkpoint_problem(str(work_dir / 'iter_4.pth')) is None
    assert 'incomplete' in checkpoint_problem(str(work_dir / 'iter_6.pth'))
    (tmp_path / 'empty.pth').touch()
    assert checkpoint_problem(str(tmp_path / 'empty.pth')) == 'empty'
    assert checkpoint_problem(str(tmp_path / 'gone.pth')) == 'missing'


def test_a_complete_pointed_checkpoint_is_taken_silently(work_dir, warnings):
    write_pointer(work_dir, work_dir / 'iter_2.pth')
    assert find_latest_complete_checkpoint(str(work_dir)) == str(
        work_dir / 'iter_2.pth')
    assert warnings == []


@pytest.mark.parametrize('pointer,why', [
    ('', 'last_checkpoint is empty'),
    (None, 'there is no last_checkpoint file'),
    ('gone/iter_10.pth', 'gone/iter_10.pth, which is missing'),
    ('iter_6.pth', 'iter_6.pth, which is incomplete'),
])
def test_a_bad_pointer_gives_the_newest_complete_checkpoint_and_a_warning(
        work_dir, warnings, pointer, why):
    if pointer is not None:
        target = str(work_dir / pointer) if pointer else ''
        (work_dir / 'last_checkpoint').write_text(target)
    found = find_latest_complete_checkpoint(str(work_dir))
    assert found == str(work_dir / 'iter_4.pth')
    [warning] = warnings
    assert why in warning
    # Named once, in the pointer's clause or among the skipped files.
    assert 'iter_6.pth (incomplete' in warning or pointer == 'iter_6.pth'
    assert '.iter_8.pth.abc123.tmp (temporary file' in warning
    assert f'resuming from {found}' in warning
    assert 'backbone.pth' not in warning


def test_nothing_complete_means_training_from_the_start(tmp_path, warnings):
    (tmp_path / 'last_checkpoint').write_text('')
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 cut')
    assert find_latest_complete_checkpoint(str(tmp_path)) is None
    assert 'no complete checkpoint is left' in warnings[0]
    assert 'epoch_1.pth (incomplete' in warnings[0]


def test_an_empty_work_dir_has_nothing_to_resume(tmp_path, warnings):
    assert find_latest_complete_checkpoint(str(tmp_path)) is None
    assert find_latest_complete_checkpoint(str(tmp_path / 'none')) is None
    assert warnings == []


def deepspeed_folder(work_dir):
    """A folder checkpoint laid out as DeepSpeed saves one."""
    folder = work_dir / 'iter_8.pth'
    (folder / 'checkpoint').mkdir(parents=True)
    (folder / 'latest').write_text('checkpoint')
    (folder / 'checkpoint' / 'mp_rank_00_model_states.pt').write_bytes(b'x')
    return str(folder)


def legacy_file(work_dir):
    """A checkpoint in torch's legacy (pre-1.6, non-zip) format."""
    import torch
    path = work_dir / 'iter_8.pth'
    torch.save({'meta': {'iter': 8}, 'state_dict': {'w': torch.ones(2)}},
               path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b'\x80'  # a pickle, not 'PK'
    return str(path)


@pytest.mark.parametrize('make_target', [
    deepspeed_folder,
    legacy_file,
    lambda work_dir: 's3://bucket/work/iter_8.pth',
    lambda work_dir: 'http://host/work/iter_8.pth',
    lambda work_dir: 'petrel:s3://bucket/work/iter_8.pth',
    lambda work_dir: 'cluster:petrel/work/iter_8.pth',
], ids=['deepspeed_folder', 'legacy_file', 's3', 'http', 'petrel_s3',
        'prefix'])
def test_a_pointer_not_checked_here_is_returned_as_mmengine_does(
        work_dir, warnings, make_target):
    target = make_target(work_dir)
    (work_dir / 'last_checkpoint').write_text(f'{target}\n')
    assert find_latest_complete_checkpoint(str(work_dir)) == target
    assert warnings == []


def test_a_zip_cut_within_its_first_bytes_is_still_checked(work_dir,
                                                           warnings):
    (work_dir / 'iter_8.pth').write_bytes(b'PK')
    write_pointer(work_dir, work_dir / 'iter_8.pth')
    assert find_latest_complete_checkpoint(str(work_dir)) == str(
        work_dir / 'iter_4.pth')
    assert 'iter_8.pth, which is incomplete' in warnings[0]
