"""``import mmseg.models`` with mmcv-lite (no compiled ops)."""
import importlib
import importlib.machinery
import sys
import types

__all__ = ['install_mmcv_ext_stand_in', 'NO_COMPILED_OPS']

# What the stand-in's build-information functions answer.
NO_COMPILED_OPS = 'n/a (mmcv-lite, no compiled ops)'
# Functions of mmcv._ext that describe the build (``mmcv.ops.info``, called
# by ``mmcv.utils.collect_env``): not ops, they answer NO_COMPILED_OPS.
_BUILD_INFORMATION = ('get_compiler_version', 'get_compiling_cuda_version')


class _MissingCompiledOps(types.ModuleType):
    """Stands in for ``mmcv._ext``: every op exists and fails when called;
    the build-information functions answer :data:`NO_COMPILED_OPS`."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        if name in _BUILD_INFORMATION:

            def build_information():
                return NO_COMPILED_OPS

            build_information.__name__ = name
            build_information.__qualname__ = name
            return build_information

        def missing_op(*args, **kwargs):
            raise RuntimeError(
                f"mmcv compiled op '{name}' is not available: this "
                'environment has mmcv-lite (no compiled ops). CIM '
                'pre-training and UperNet+ViT do not need them; install full '
                'mmcv (MMCV_WITH_OPS=1 pip install mmcv==2.1.0 '
                f'--no-build-isolation) to use {name}.')

        missing_op.__name__ = missing_op.__qualname__ = name
        return missing_op


def install_mmcv_ext_stand_in():
    """Let ``import mmseg.models`` succeed with mmcv-lite (no arguments,
    returns nothing; idempotent).

    Upstream: mmsegmentation 1.2.2 imports ``mmcv.ops`` (``point_sample``,
    focal loss) at import time, and ``mmcv.ops`` loads the compiled
    ``mmcv._ext``, which mmcv-lite lacks.

    Fix: when ``mmcv._ext`` is missing (and only then: a real but broken
    build keeps its own ImportError), register a stand-in whose ops raise a
    clear RuntimeError when called. The ViT/UperNet paths call none. The
    two functions that describe the build (``get_compiler_version``,
    ``get_compiling_cuda_version``, which ``mmcv.utils.collect_env()``
    calls once ``import mmcv.ops`` succeeds) return :data:`NO_COMPILED_OPS`
    instead, so the environment report works as it does without the
    stand-in (where mmcv itself reports ``'n/a'``).

    Remove when mmseg stops importing compiled ops eagerly or full mmcv
    wheels exist for the torch in use.
    """
    if 'mmcv._ext' in sys.modules:
        return
    try:
        importlib.import_module('mmcv._ext')
        return
    except ModuleNotFoundError as err:
        if err.name != 'mmcv._ext':  # mmcv itself is not installed
            return
    except ImportError:  # a compiled build that fails to load: keep its error
        return
    import mmcv
    stand_in = _MissingCompiledOps(
        'mmcv._ext', 'cim_mm stand-in for mmcv-lite (no compiled ops)')
    # A spec without loader: importlib sees a module that cannot be loaded,
    # so mmengine's ``mmcv_full_available()`` stays False.
    stand_in.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    sys.modules['mmcv._ext'] = stand_in
    mmcv._ext = stand_in
