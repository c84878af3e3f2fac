import json
import os.path as osp

from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'plot_curves.py')


def _work_dir(root, name, runs):
    """A work dir whose runs (timestamp -> records) wrote scalars.json."""
    work_dir = root / name
    for timestamp, records in runs.items():
        folder = work_dir / timestamp / 'vis_data'
        folder.mkdir(parents=True)
        (folder / 'scalars.json').write_text(
            ''.join(json.dumps(r) + '\n' for r in records))
    return work_dir


def test_a_png_of_loss_and_knn_from_two_work_dirs(tmp_path, run_tool_main):
    cim = _work_dir(tmp_path, 'cim', {
        '20261206_100000': [dict(step=s, loss=1.0 / s, lr=1e-3)
                            for s in (1, 2, 3)],
        '20261206_110000': [dict(step=s, loss=0.5 / s, lr=1e-3)
                            for s in (3, 4)] +
                           [{'step': 4, 'knn/top1': 40.0}],
    })
    mae = _work_dir(tmp_path, 'mae', {
        '20261206_100000': [dict(step=s, loss=2.0 / s) for s in (1, 2)],
    })
    out = tmp_path / 'plots' / 'curves.png'
    result = run_tool_main(TOOL, cim, mae, '--out', out)
    assert result.returncode == 0, result.stderr
    assert 'cim: loss: 4, knn/top1: 1' in result.stdout
    assert 'mae: loss: 2, knn/top1: not logged' in result.stdout
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == 'PNG'
        assert image.size[0] == 800 and image.size[1] > 400  # two panels


def test_missing_keys_and_work_dirs_are_clear_errors(tmp_path,
                                                     run_tool_main):
    run = _work_dir(tmp_path, 'run', {
        '20261206_100000': [dict(step=1, loss=1.0, lr=0.1)]})
    out = tmp_path / 'curves.png'
    result = run_tool_main(TOOL, run, '--keys', 'knn/top1', '--out', out)
    assert result.returncode == 1
    assert 'knn/top1: logged in none' in result.stderr
    assert 'loss, lr' in result.stderr
    result = run_tool_main(TOOL, run, tmp_path / 'empty', '--out', out)
    assert result.returncode == 1 and 'no such folder' in result.stderr
    (tmp_path / 'empty').mkdir()
    result = run_tool_main(TOOL, tmp_path / 'empty', '--out', out)
    assert result.returncode == 1
    assert 'vis_data/scalars.json' in result.stderr
    assert not out.exists()


def test_groups_draw_a_mean_line_and_band_per_method(tmp_path,
                                                     run_tool_main):
    dirs = []
    for method, base in (('cim', 60.0), ('mae', 50.0)):
        for seed in (0, 1, 2):
            dirs.append(_work_dir(tmp_path, f'{method}-seed{seed}', {
                '20261206_100000': [{'step': s, 'knn/top1': base + s + seed}
                                    for s in (0, 500, 1000)],
            }))
    # one run of a group misses a step: the group's line leaves it out
    _work_dir(tmp_path, 'cim-seed3', {'20261206_100000': [
        {'step': s, 'knn/top1': 70.0} for s in (0, 1000)]})
    dirs.append(tmp_path / 'cim-seed3')
    out = tmp_path / 'groups.png'
    result = run_tool_main(TOOL, *dirs, '--group', 'CIM=cim-seed',
                           '--group', 'MAE=mae-seed', '--keys', 'knn/top1',
                           '--band', 'std', '--out', out)
    assert result.returncode == 0, result.stderr
    assert 'CIM (4 runs): knn/top1: 2 steps' in result.stdout
    assert 'MAE (3 runs): knn/top1: 3 steps' in result.stdout
    with Image.open(out) as image:
        assert image.format == 'PNG' and image.size[0] == 800
    # a work dir no group claims, a group that claims none: clear errors
    result = run_tool_main(TOOL, *dirs, '--group', 'CIM=cim-seed',
                           '--out', out)
    assert result.returncode == 1
    assert 'mae-seed0: matches none of the groups' in result.stderr
    result = run_tool_main(TOOL, *dirs, '--group', 'CIM=cim', '--group',
                           'MAE=mae', '--group', 'random=random',
                           '--out', out)
    assert result.returncode == 1
    assert 'group random: no work dir matches' in result.stderr

