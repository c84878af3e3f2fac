"""``_base_ = ['cim_mm::folder/file.py']`` config inheritance."""
import functools
import os.path as osp

import mmengine.config.config as mmengine_config_module
from mmengine.config.utils import MODULE2PACKAGE

from .patching import patch

__all__ = ['register_config_scope']


def register_config_scope():
    """Let configs inherit ours with ``_base_ = ['cim_mm::folder/file.py']``.

    Upstream: mmengine 0.10.7 resolves ``package::path`` only for the
    packages in its hard-coded ``MODULE2PACKAGE`` table (OpenMMLab's own),
    then reads ``<installed package>/.mim/configs/path``; ``cim_mm/.mim``
    links to this repository's ``configs/``. (mmengine also requires a folder
    in the path: ``cim_mm::finetune/x.py``, not ``cim_mm::x.py``.)

    mmengine finds the package folder with ``get_installed_path``, which for
    an editable install (``pip install -e .``) names a ``site-packages/cim_mm``
    that does not exist; for ``cim_mm`` it now returns the imported package's
    folder, wherever it is.

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
            return original(package)

        return get_installed_path

    patch(mmengine_config_module, 'get_installed_path', make)
