"""mmengine's local checkpoint reads go through cim_mm's one reader."""
from mmengine.runner import CheckpointLoader

from cim_mm.checkpoint.loading import load_from_local

__all__ = ['patch_checkpoint_loading']


def patch_checkpoint_loading():
    """Read local checkpoints with :func:`cim_mm.checkpoint.read_checkpoint`.

    Upstream: torch >= 2.6 loads with ``weights_only=True`` by default, and
    mmengine 0.10.7 checkpoints pickle ``HistoryBuffer``, numpy objects and
    ``builtins.getattr`` (message hub), so ``resume`` and ``load_from`` fail
    with an ``UnpicklingError``.

    Fix: mmengine's local scheme (``load_from``, ``resume``,
    ``init_cfg=dict(type='Pretrained')``, ``load_checkpoint``,
    ``CheckpointLoader``) reads through cim_mm's reader: weights only, plus
    exactly the objects of a runner checkpoint; full unpickling only inside
    ``cim_mm.checkpoint.trusted_checkpoints()`` or with
    ``CIM_MM_TRUST_CHECKPOINTS=1``. Remote schemes (http, s3, ...) are
    untouched.

    Remove when mmengine saves weights-only-loadable checkpoints or passes
    ``weights_only`` itself (not the case in 0.10.7).
    """
    if CheckpointLoader._schemes.get('') is not load_from_local:
        CheckpointLoader.register_scheme(prefixes='',
                                         loader=load_from_local,
                                         force=True)
