"""``package::folder/file.py`` config names: ``cim_mm::`` inheritance, and
every package found without ``pkg_resources``."""
import functools
import importlib.util
import os.path as osp

import mmengine.config.config as mmengine_config_module
from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE

from .patching import patch

__all__ = ['register_config_scope', 'load_config', 'installed_package_dir']


def installed_package_dir(package: str):
    """The folder of an importable package, found with ``importlib`` (no
    import, no ``pkg_resources``), or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def load_config(path: str) -> Config:
    """A config file, or ``package::folder/file.py`` (e.g.
    ``mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py``),
    resolved as mmengine resolves ``_base_`` entries. The one loader of the
    tools that take either."""
    if '::' in path:
        return Config.fromstring(f'_base_ = [{path!r}]', '.py')
    return Config.fromfile(path)


def register_config_scope():
    """Let configs inherit ours with ``_base_ = ['cim_mm::folder/file.py']``.

    Upstream: mmengine 0.10.7 resolves ``package::path`` only for the
    packages in its hard-coded ``MODULE2PACKAGE`` table (OpenMMLab's own),
    then reads ``<installed package>/.mim/configs/path``; ``cim_mm/.mim``
    links to this repository's ``configs/``. (mmengine also requires a folder
    in the path: ``cim_mm::finetune/x.py``, not ``cim_mm::x.py``.)

    mmengine finds the package folder with ``get_installed_path``, which for
    an editable install (``pip install -e .``) names a ``site-packages/cim_mm``
    that does not exist, and which needs ``pkg_resources`` (setuptools < 82;
    not on every machine: a GPU host may run the OpenMMLab wheels from
    PYTHONPATH without it), as does its ``is_installed`` check before it.
    They now answer from the imported ``cim_mm``'s folder and, for any
    other package, from ``importlib`` (mmengine's own lookup only for
    packages importlib cannot find, e.g. a distribution named unlike its
    module).

    Only effective once ``cim_mm`` is imported: mmengine parses ``_base_``
    before it applies ``custom_imports``, so configs run through
    mmseg's/mmpretrain's own ``tools/train.py`` must inherit ours by file
    path; ``tools/train.py`` of this repository imports cim_mm first.

    Remove when mmengine accepts third-party packages there.
    """
    MODULE2PACKAGE.setdefault('cim_mm', 'cim_mm')
    package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))

    def make(original):

        @functools.wraps(original)
        def get_installed_path(package):
            if package == 'cim_mm':
                return package_dir
            return installed_package_dir(package) or original(package)

        return get_installed_path

    def make_is_installed(original):

        @functools.wraps(original)
        def is_installed(package):
            if installed_package_dir(package) is not None:
                return True
            try:
                return original(package)
            except ImportError:  # no pkg_resources, and importlib found none
                return False

        return is_installed

    patch(mmengine_config_module, 'get_installed_path', make)
    patch(mmengine_config_module, 'is_installed', make_is_installed)
