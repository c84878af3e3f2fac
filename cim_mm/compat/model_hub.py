"""The two private parts of mmpretrain's ``ModelHub`` that the model zoo
needs, in one place.

Upstream: mmpretrain 1.2.0's public ``ModelHub.register_model_index``
registers a whole index and raises on the first name already present, so a
second ``import cim_mm`` (``importlib.reload``) or one name taken by another
package would fail; registering model by model needs the hub's dict and its
config-path rule, both private. tests/test_compat/test_model_hub.py fails
when mmpretrain changes either.

Remove when ``ModelHub`` registers single models publicly.
"""
from mmpretrain.apis import ModelHub

__all__ = ['registered_models', 'expand_config_path']


def registered_models() -> dict:
    """The hub's live ``{lower-case name: metainfo}`` dict."""
    return ModelHub._models_dict


def expand_config_path(metainfo, config_prefix: str) -> str:
    """The absolute config path the hub stores for ``metainfo``."""
    return ModelHub._expand_config_path(metainfo, config_prefix)
