"""cim_mm.compat.mmcv_ext_stand_in: import mmseg.models with mmcv-lite."""
import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_mmseg_imports_with_mmcv_lite_and_compiled_ops_fail_clearly():
    script = '''
import json, sys
import cim_mm, mmseg.models, mmcv.ops, torch
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
