"""cim_mm: Correlational Image Modeling (Li, Xie & Loy, CVPR 2023) for OpenMMLab.

Importing this package applies the 2026-stack adaptations (:mod:`cim_mm.compat`)
and registers every CIM component into mmpretrain's registries, so a config
only needs ``custom_imports=dict(imports=['cim_mm'], allow_failed_imports=False)``.
"""
from . import compat  # noqa: F401  (must come first: patches the stack)
from . import datasets, engine, evaluation, models  # noqa: F401
from . import apis  # noqa: F401,E402  (registers the model zoo; after models)

__version__ = '0.1.0'
__all__ = ['__version__']
