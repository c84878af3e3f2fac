"""knn_study.py: the table of a study's seeds (mean +- std at each step and
of the final full k-NN) and its PNG."""
import json
import os.path as osp

from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'knn_study.py')


def _run(root, name, top1, full=None):
    """A run folder: the monitor's top-1 at steps 0 and 100, maybe a full
    k-NN result."""
    folder = root / name
    if top1 is not None:
        vis = folder / '20261206_100000' / 'vis_data'
        vis.mkdir(parents=True)
        vis.joinpath('scalars.json').write_text(''.join(
            json.dumps({'step': s, 'knn/top1': v}) + '\n'
            for s, v in zip((0, 100), top1)))
    folder.mkdir(exist_ok=True)
    if full is not None:
        (folder / 'knn_full.json').write_text(
            json.dumps({'top1': full, 'top5': full + 20}))


def test_table_and_png_of_a_study(tmp_path, run_tool_main):
    _run(tmp_path, 'cim-seed0', (50.0, 70.0), full=71.0)
    _run(tmp_path, 'cim-seed1', (52.0, 72.0), full=73.0)
    _run(tmp_path, 'mae-seed0', (40.0, 60.0))
    _run(tmp_path, 'random-seed0', None, full=64.0)
    (tmp_path / 'cim-seed0.log').write_text('not a run folder')
    out = tmp_path / 'study.png'
    result = run_tool_main(TOOL, tmp_path, '--out', out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert '| runs | seeds | step 0 | step 100 | full k-NN |' in lines
    assert ('| cim | 0 1 | 51.00 +- 1.41 (2) | 71.00 +- 1.41 (2) '
            '| 72.00 +- 1.41 (2) |') in lines
    assert '| mae | 0 | 40.00 +- 0.00 (1) | 60.00 +- 0.00 (1) | - |' in lines
    assert '| random | 0 | - | - | 64.00 +- 0.00 (1) |' in lines
    with Image.open(out) as image:
        assert image.format == 'PNG'
    result = run_tool_main(TOOL, tmp_path, '--steps', '100')
    assert '| cim | 0 1 | 71.00 +- 1.41 (2) | 72.00 +- 1.41 (2) |' in (
        result.stdout.splitlines())
    # another key: the full k-NN's own value (no run logged knn/top5)
    result = run_tool_main(TOOL, tmp_path, '--key', 'knn/top5')
    assert '| random | 0 | 84.00 +- 0.00 (1) |' in result.stdout.splitlines()


def test_a_folder_without_runs_is_a_clear_error(tmp_path, run_tool_main):
    result = run_tool_main(TOOL, tmp_path)
    assert result.returncode == 1
    assert 'no <method>-seed<S> folders' in result.stderr
