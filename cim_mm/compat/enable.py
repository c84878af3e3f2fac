"""The switch for the 2026-stack adaptations: ``import cim_mm.compat.enable``.

``import cim_mm`` registers CIM's components and changes nothing else.
Importing this module applies every adaptation of :mod:`cim_mm.compat`
(:func:`cim_mm.compat.apply_all`, idempotent) for the whole process. A config
switches them on with::

    custom_imports = dict(imports=['cim_mm', 'cim_mm.compat.enable'],
                          allow_failed_imports=False)

as every shipped config does (``configs/_base_/default_runtime.py``), and the
tools of this repository import it before they read a config. What each
adaptation changes, and when it can go: docs/stack.md.
"""
from . import apply_all  # importing this module imported cim_mm first

apply_all()
