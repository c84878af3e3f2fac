"""cim_mm.compat.apply_all: every adaptation applied once, whatever the
number of calls."""
import sys

from mmengine.runner import CheckpointLoader

from cim_mm import compat
from cim_mm.checkpoint import load_from_local


def test_apply_all_is_idempotent():
    import mmengine.config.config as mmengine_config_module

    def patched_objects():
        return [
            CheckpointLoader._schemes[''],
            sys.modules.get('mmcv._ext'),
            mmengine_config_module.get_installed_path,
        ]

    before = patched_objects()
    compat.apply_all()
    compat.apply_all()
    assert all(a is b for a, b in zip(before, patched_objects()))
    assert CheckpointLoader._schemes[''] is load_from_local
    # Wrapped exactly once: what the patch wraps is mmengine's own function.
    assert mmengine_config_module.get_installed_path.__wrapped__.__module__ \
        == 'mmengine.utils.package_utils'
