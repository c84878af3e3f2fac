import json
import math

import pytest

from cim_mm.visualization.scalar_logs import (ScalarLogError,
                                              default_curve_keys,
                                              find_scalar_files,
                                              read_scalar_file,
                                              read_work_dir_scalars)


def write_run(work_dir, timestamp, records, tail=''):
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` with ``records``."""
    folder = work_dir / timestamp / 'vis_data'
    folder.mkdir(parents=True)
    lines = [json.dumps(r) for r in records]
    (folder / 'scalars.json').write_text('\n'.join(lines) + '\n' + tail)


def test_a_resumed_run_replaces_the_interrupted_runs_tail(tmp_path):
    """Run 1 logged up to step 30 but saved at 20; run 2 resumed from 20
    and logs every 5 steps: its steps from 25 on replace run 1's."""
    write_run(tmp_path, '20261206_100000', [
        dict(step=s, iter=s, loss=10.0 - s / 10, lr=0.1) for s in (10, 20, 30)
    ] + [dict(step=20, **{'knn/top1': 12.5})])
    write_run(tmp_path, '20261206_120000', [
        dict(step=s, iter=s, loss=5.0 - s / 10, lr=0.2) for s in (25, 35)
    ] + [dict(step=40, **{'knn/top1': 30.0})])
    scalars = read_work_dir_scalars(str(tmp_path))
    assert scalars['loss'] == [(10, 9.0), (20, 8.0), (25, 2.5), (35, 1.5)]
    assert scalars['lr'] == [(10, 0.1), (20, 0.1), (25, 0.2), (35, 0.2)]
    assert scalars['knn/top1'] == [(20, 12.5), (40, 30.0)]
    assert 'iter' not in scalars and 'step' not in scalars


def test_runs_are_merged_oldest_first(tmp_path):
    write_run(tmp_path, '20261206_120000', [dict(step=5, loss=2.0)])
    write_run(tmp_path, '20261206_090000', [dict(step=5, loss=1.0)])
    files = find_scalar_files(str(tmp_path))
    assert [f.split('/')[-3] for f in files] == ['20261206_090000',
                                                 '20261206_120000']
    assert read_work_dir_scalars(str(tmp_path))['loss'] == [(5, 2.0)]


def test_nan_values_are_kept_and_a_truncated_last_line_is_dropped(tmp_path):
    write_run(tmp_path, '20261206_100000',
              [dict(step=1, loss=1.0), dict(step=2, loss=math.nan)],
              tail='{"step": 3, "lo')
    series = read_scalar_file(
        str(tmp_path / '20261206_100000' / 'vis_data' / 'scalars.json'))
    assert series['loss'][0] == (1, 1.0) and math.isnan(series['loss'][1][1])
    assert len(series['loss']) == 2


def test_a_broken_line_inside_the_file_is_named(tmp_path):
    write_run(tmp_path, '20261206_100000', [dict(step=1, loss=1.0)],
              tail='not json\n{"step": 2, "loss": 0.5}')
    with pytest.raises(ScalarLogError, match='line 2'):
        read_work_dir_scalars(str(tmp_path))


def test_a_folder_without_runs_is_refused_with_the_expected_layout(tmp_path):
    with pytest.raises(ScalarLogError, match='vis_data/scalars.json'):
        find_scalar_files(str(tmp_path))
    with pytest.raises(ScalarLogError, match='no such folder'):
        find_scalar_files(str(tmp_path / 'missing'))


def test_default_keys_are_the_loss_and_the_knn_keys():
    assert default_curve_keys(['lr', 'knn/top5', 'loss', 'val/knn_top1',
                               'grad_norm', 'knn/top1']) == [
                                   'loss', 'knn/top1', 'knn/top5',
                                   'val/knn_top1']
    assert default_curve_keys(['lr']) == []
