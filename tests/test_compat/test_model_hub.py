"""cim_mm.compat.model_hub: the private ModelHub parts the model zoo uses
still behave as the zoo expects (fails when mmpretrain changes them)."""
import os.path as osp

from mmpretrain.apis import ModelHub

from cim_mm.apis import find_model_index
from cim_mm.compat.model_hub import expand_config_path, registered_models


def test_registered_models_is_the_hubs_live_dict():
    models = registered_models()
    assert isinstance(models, dict)
    name = 'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k'
    # cim_mm registered its index on import, through the public API ...
    assert ModelHub.has(name)
    # ... and the private dict is what the public lookups read.
    assert name in models
    assert ModelHub.get(name).name == models[name].name


def test_expand_config_path_makes_the_metafile_path_absolute():
    from modelindex.load_model_index import load
    index_path = find_model_index()
    index = load(index_path)
    index.build_models_with_collections()
    metainfo = next(m for m in index.models if m.config)
    prefix = osp.dirname(index_path)
    expanded = expand_config_path(metainfo, prefix)
    assert expanded == osp.abspath(osp.join(prefix, metainfo.config))
    assert osp.isfile(expanded)
