"""cim_mm: Correlational Image Modeling (Li, Xie & Loy, CVPR 2023) for OpenMMLab.

Importing this package registers every CIM component (models, transforms,
hooks, loops, samplers, metrics, the model zoo's names) and changes nothing
else in mmengine, mmpretrain, mmseg, mmcv or torch:
``custom_imports=dict(imports=['cim_mm'], allow_failed_imports=False)``.
The 2026-stack adaptations (:mod:`cim_mm.compat`) are one explicit switch,
``import cim_mm.compat.enable`` (``imports=['cim_mm', 'cim_mm.compat.enable']``),
which the shipped configs and tools use.
"""
from . import datasets, engine, evaluation, models, visualization  # noqa: F401
from . import apis  # noqa: F401,E402  (registers the model zoo; after models)

__version__ = '0.1.0'
__all__ = ['__version__']
