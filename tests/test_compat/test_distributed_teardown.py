"""cim_mm.compat.distributed_teardown: process groups destroyed before exit."""
import json
import subprocess
import sys

import pytest

SHUTDOWN_SCRIPT = '''
import gc, json, os, sys
import torch, torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from cim_mm import compat

def gloo_threads():
    names = (open(f'/proc/self/task/{t}/comm').read().strip()
             for t in os.listdir('/proc/self/task'))
    return sorted(name for name in names if 'gloo' in name)

dist.init_process_group('gloo', init_method='file://' + sys.argv[1],
                        rank=0, world_size=1)

class Runnerlike:
    """Holds a DDP model in a reference cycle, as mmengine's Runner does."""

runner = Runnerlike()
runner.me = runner
runner.model = MMDistributedDataParallel(torch.nn.Linear(2, 2))
runner.model(torch.ones(1, 2)).sum().backward()
kept = runner.model if sys.argv[2] == 'keep' else None
threads_before = gloo_threads()
del runner
left = compat.shutdown_distributed()
report = dict(threads_before=threads_before, left=left,
              threads_after=gloo_threads(),
              initialized=dist.is_initialized())
del kept  # lets the kept group go before exit
gc.collect()
print(json.dumps(report))
'''


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='reads thread names from /proc')
def test_shutdown_distributed_joins_the_backend_threads_of_a_runner_group(
        tmp_path):
    result = subprocess.run([
        sys.executable, '-c', SHUTDOWN_SCRIPT,
        str(tmp_path / 'store'), 'drop'
    ],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The group existed, with its worker threads, in a reference cycle.
    assert 'pt_gloo_runloop' in report['threads_before']
    assert report == dict(threads_before=report['threads_before'],
                          left=0,
                          threads_after=[],
                          initialized=False)
    assert 'still referenced' not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='reads thread names from /proc')
def test_shutdown_distributed_names_what_still_holds_a_group(tmp_path):
    result = subprocess.run([
        sys.executable, '-c', SHUTDOWN_SCRIPT,
        str(tmp_path / 'store'), 'keep'
    ],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['left'] == 1 and report['initialized'] is False
    assert 'pt_gloo_runloop' in report['threads_after']
    output = result.stdout + result.stderr
    assert ('1 destroyed process group(s) are still referenced '
            '(by: MMDistributedDataParallel)') in output
