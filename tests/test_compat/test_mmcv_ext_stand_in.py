"""cim_mm.compat.mmcv_ext_stand_in: import mmseg.models with mmcv-lite;
mmcv's environment report works with the stand-in."""
import json
import subprocess
import sys

import pytest

from cim_mm.compat import install_mmcv_ext_stand_in
from cim_mm.compat.mmcv_ext_stand_in import (NO_COMPILED_OPS,
                                             _MissingCompiledOps)


@pytest.fixture
def stand_in():
    """The stand-in, installed in this process (idempotent; skipped with a
    full mmcv). It stays installed, as ``apply_all`` leaves it: ``mmcv.ops``
    cannot be forgotten and imported again (its ops register themselves in
    mmengine's MODELS registry), so nothing is undone."""
    install_mmcv_ext_stand_in()
    module = sys.modules.get('mmcv._ext')
    if not isinstance(module, _MissingCompiledOps):
        pytest.skip('full mmcv with compiled ops is installed')
    return module


def test_collect_env_reports_no_compiled_ops_and_ops_still_fail(stand_in):
    import mmcv.ops
    import mmcv.utils
    import torch
    env = mmcv.utils.collect_env()
    assert env['MMCV Compiler'] == NO_COMPILED_OPS
    assert env['MMCV CUDA Compiler'] == NO_COMPILED_OPS
    assert 'no compiled ops' in NO_COMPILED_OPS
    with pytest.raises(RuntimeError, match="mmcv compiled op 'nms' is not "
                       'available: this environment has mmcv-lite'):
        mmcv.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
    with pytest.raises(RuntimeError, match='MMCV_WITH_OPS=1'):
        stand_in.get_compiler_version_of_nothing()


@pytest.mark.slow
def test_mmseg_imports_with_mmcv_lite_and_compiled_ops_fail_clearly():
    script = '''
import json, sys
import cim_mm.compat.enable, mmseg.models, mmcv.ops, torch
from mmengine.utils.dl_utils import mmcv_full_available
from cim_mm.compat.mmcv_ext_stand_in import _MissingCompiledOps
stand_in = isinstance(sys.modules['mmcv._ext'], _MissingCompiledOps)
try:
    mmcv.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
    error = None
except RuntimeError as err:
    error = str(err)
print(json.dumps(dict(stand_in=stand_in, error=error,
                      full=mmcv_full_available())))
'''
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if not report['stand_in']:
        pytest.skip('full mmcv with compiled ops is installed')
    assert report['error'].startswith(
        "mmcv compiled op 'nms' is not available: this environment has "
        'mmcv-lite')
    assert 'MMCV_WITH_OPS=1 pip install mmcv==2.1.0' in report['error']
    assert report['full'] is False
