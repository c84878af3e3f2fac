"""tools/infer_correlation.py end to end on a real (tiny) CIM checkpoint:
one JSON line per query on stdout, the map and overlay PNGs, and errors
without tracebacks that name the problem."""
import json
import os.path as osp

import cv2
import pytest
import torch

import cim_mm  # noqa: F401
from cim_mm.checkpoint import read_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'infer_correlation.py')
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
KEYS = {
    'image', 'query_box', 'exemplar', 'box', 'score', 'area', 'peak',
    'threshold', 'map', 'overlay'
}


@pytest.fixture(name='run_tool')
def run_tool_fixture(run_tool_main):
    """tools/infer_correlation.py's command line, in this process (the
    real command line: tests/test_tools/test_cim_release_to_mmpretrain.py)."""
    return lambda *args: run_tool_main(TOOL, *args)


def test_box_query_prints_one_json_line_and_writes_the_pngs(
        run_tool, tiny_cim_run, nonsquare_photos, tmp_path):
    """The repository's demo config with the run's --cfg-options."""
    _, checkpoint = tiny_cim_run
    out = run_tool(DEMO_CONFIG, checkpoint, nonsquare_photos['coffee'],
                   '--box', 100, 50, 300, 200, '--out-dir', tmp_path,
                   '--device', 'cpu', '--cfg-options',
                   'model.backbone.arch.num_layers=2')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1, out.stdout
    result = json.loads(lines[0])
    assert set(result) == KEYS
    assert result['query_box'] == [100, 50, 300, 200]
    assert result['threshold'] == 0.5
    if result['box'] is None:
        assert result['score'] is None
    else:
        x0, y0, x1, y1 = result['box']
        assert 0 <= x0 < x1 <= 600 and 0 <= y0 < y1 <= 400
        assert 0.5 < result['score'] <= 1
    for key in ('map', 'overlay'):
        assert osp.dirname(result[key]) == str(tmp_path)
    assert cv2.imread(result['map'], cv2.IMREAD_UNCHANGED).shape == (400, 600)
    assert cv2.imread(result['overlay']).shape[0] == 400


def test_exemplar_queries_give_a_line_each(
        run_tool, tiny_cim_run, nonsquare_photos,
                                           tmp_path):
    config, checkpoint = tiny_cim_run
    out = run_tool(config, checkpoint, nonsquare_photos['chelsea'],
                   '--exemplar', nonsquare_photos['coffee'], '--exemplar',
                   nonsquare_photos['chelsea'], '--threshold', 0.3,
                   '--out-dir', tmp_path)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r['exemplar'] for r in results
            ] == [nonsquare_photos['coffee'], nonsquare_photos['chelsea']]
    for result in results:
        assert result['threshold'] == 0.3 and osp.isfile(result['overlay'])
        assert cv2.imread(result['map'],
                          cv2.IMREAD_UNCHANGED).shape == (300, 451)


@pytest.mark.parametrize('box,message', [
    ((500, 300, 650, 350), 'is not inside the image (600 x 400 pixels)'),
    ((100, 50, 100, 200), 'is empty'),
])
def test_bad_box_is_a_clear_error(
        run_tool, tiny_cim_run, nonsquare_photos, tmp_path,
                                  box, message):
    config, checkpoint = tiny_cim_run
    out = run_tool(config, checkpoint, nonsquare_photos['coffee'], '--box',
                   *box, '--out-dir', tmp_path)
    assert out.returncode == 1 and out.stdout == ''
    assert message in out.stderr and 'Traceback' not in out.stderr


def test_wrong_or_missing_checkpoint(
        run_tool, tiny_cim_run, nonsquare_photos, tmp_path):
    config, checkpoint = tiny_cim_run
    state = read_checkpoint(checkpoint)['state_dict']
    converted = str(tmp_path / 'backbone.pth')
    torch.save(
        {
            k[9:]: v
            for k, v in state.items() if k.startswith('backbone.')
        }, converted)
    out = run_tool(config, converted, nonsquare_photos['coffee'], '--box', 0,
                   0, 50, 50, '--out-dir', tmp_path)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert (f"checkpoint {converted} has no 'backbone.*', 'neck.*', "
            "'target_backbone.*' keys: it is not a CIM pre-training "
            'checkpoint') in out.stderr

    missing = str(tmp_path / 'iter_9.pth')
    out = run_tool(config, missing, nonsquare_photos['coffee'], '--box', 0, 0,
                   50, 50)
    assert out.returncode == 1
    assert f'Checkpoint file not found: {missing}' in out.stderr


def test_box_and_exemplar_exclude_each_other(
        run_tool, tiny_cim_run, nonsquare_photos):
    config, checkpoint = tiny_cim_run
    out = run_tool(config, checkpoint, nonsquare_photos['coffee'], '--box', 0,
                   0, 5, 5, '--exemplar', nonsquare_photos['chelsea'])
    assert out.returncode == 2 and 'not allowed with' in out.stderr
