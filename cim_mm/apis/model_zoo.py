"""Register the CIM model zoo with mmpretrain's :class:`ModelHub`.

After ``import cim_mm`` (which imports this module),
``mmpretrain.list_models('*cim*')`` lists every entry of the repository's
``model-index.yml`` (which imports ``configs/metafile.yml``) and
``mmpretrain.get_model(name, pretrained=path)`` builds a model from the
entry's config in ``configs/`` and loads a local checkpoint into it.

Where the index lives:

* an installed (non-editable) package ships it, with ``configs/``, in
  ``cim_mm/.mim/`` (as mmpretrain does in ``mmpretrain/.mim/``);
* a source checkout or an editable install reads it from the repository root,
  the parent folder of the ``cim_mm`` package.

Config paths in the metafile are relative to that folder, which is therefore
the ``config_prefix`` given to :meth:`ModelHub.register_model_index`.

No weights are released (every ``Weights`` is null, also for the authors'
checkpoints, ``*_3rdparty_*``, whose ``Converted From`` links are download
pages), so ``pretrained=True`` only warns; pass a local file (for those two,
the output of ``tools/model_converters/cim_release_to_mmpretrain.py``). It is read by
:func:`cim_mm.checkpoint.read_checkpoint`: weights only (a plain state dict or
a runner checkpoint loads; a file pickling other objects is refused with
:class:`cim_mm.checkpoint.UntrustedCheckpointError`).

Registering model by model uses two private parts of ``ModelHub``, isolated
in :mod:`cim_mm.compat.model_hub`.
"""
import os.path as osp
import warnings
from typing import List, Optional

from mmpretrain.apis import ModelHub

from cim_mm.compat.model_hub import expand_config_path, registered_models

__all__ = ['MODEL_INDEX_NAME', 'find_model_index', 'register_cim_models']

MODEL_INDEX_NAME = 'model-index.yml'

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def find_model_index() -> Optional[str]:
    """The absolute path of cim_mm's ``model-index.yml``, or None.

    ``cim_mm/.mim/model-index.yml`` (installed package) is preferred over
    ``<repository root>/model-index.yml`` (source checkout, editable
    install).
    """
    for root in (osp.join(_PACKAGE_DIR, '.mim'), osp.dirname(_PACKAGE_DIR)):
        path = osp.join(root, MODEL_INDEX_NAME)
        if osp.isfile(path):
            return path
    return None


def _load_models(model_index_path: str) -> list:
    from modelindex.load_model_index import load
    model_index = load(model_index_path)
    model_index.build_models_with_collections()
    return list(model_index.models)


def register_cim_models(model_index_path: Optional[str] = None) -> List[str]:
    """Register the CIM models with mmpretrain's ModelHub (idempotent).

    Args:
        model_index_path (str, optional): The model index to register.
            Defaults to :func:`find_model_index`.

    Returns:
        list[str]: The (lower-case) names of all models of the index that
        are in the ModelHub now, whether registered by this call or before.

    A name that the ModelHub already holds for another config (e.g. a
    future mmpretrain model of the same name) is left untouched, with a
    warning; a name already registered for the same config (a second import,
    ``importlib.reload``) is skipped silently. Without an index (a package
    installed without its ``.mim`` folder) nothing is registered, with a
    warning; importing cim_mm never fails because of the model zoo.
    """
    if model_index_path is None:
        model_index_path = find_model_index()
    if model_index_path is None:
        warnings.warn(
            f'cim_mm: no {MODEL_INDEX_NAME} found in {_PACKAGE_DIR}/.mim or '
            f'{osp.dirname(_PACKAGE_DIR)}; the CIM models are not registered '
            'with mmpretrain.list_models/get_model (the package was '
            'installed without its model zoo files).')
        return []
    model_index_path = osp.abspath(model_index_path)
    config_prefix = osp.dirname(model_index_path)

    models = _load_models(model_index_path)
    registered = registered_models()
    present = [m for m in models if m.name.lower() in registered]
    if not present:
        # The public API; it raises on (and only on) a duplicate name.
        ModelHub.register_model_index(model_index_path,
                                      config_prefix=config_prefix)
    else:
        for metainfo in models:
            name = metainfo.name.lower()
            config = expand_config_path(metainfo, config_prefix)
            if name not in registered:
                metainfo.config = config
                registered[name] = metainfo
                continue
            existing = registered[name].config
            same = isinstance(existing, str) and (
                osp.realpath(existing) == osp.realpath(config))
            if same:
                continue  # registered before by this very index
            warnings.warn(
                f"cim_mm: the model name '{name}' is already registered in "
                f"mmpretrain's ModelHub (config {existing!r}); cim_mm's "
                f'entry (config {config!r}) is not registered.')
    return [
        m.name.lower() for m in models
        if m.name.lower() in registered
    ]
