"""The CIM model zoo in mmpretrain's ModelHub (CPU, about half a minute).

Every entry of configs/metafile.yml must be listed by
``mmpretrain.list_models('*cim*')``, point at an existing config, build with
``mmpretrain.get_model(name)`` with the parameter count the metafile states,
and (fine-tuning entries) load a local plain state dict with
``get_model(name, pretrained=path)``. The Results are the paper's numbers.
"""
import math
import os.path as osp
import subprocess
import sys
import warnings

import pytest
import torch
import yaml
from mmengine.logging import HistoryBuffer

import mmpretrain
from mmpretrain.apis import ModelHub

import cim_mm.apis  # noqa: F401  (registers the model zoo)
from cim_mm.apis import model_zoo
from cim_mm.checkpoint import UntrustedCheckpointError, trusted_checkpoints

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METAFILE = osp.join(REPO, 'configs', 'metafile.yml')

with open(METAFILE) as f:
    ENTRIES = {m['Name']: m for m in yaml.safe_load(f)['Models']}
FINETUNE = sorted(name for name, m in ENTRIES.items() if m['Results'])
PRETRAIN = sorted(name for name, m in ENTRIES.items() if not m['Results'])

# ImageNet top-1 of the paper (Li, Xie & Loy, CVPR 2023) after 300 epochs of
# CIM pre-training: the reference numbers the metafile must state.
PAPER_TOP1 = {
    'vit-small-p16_cim-pre_8xb256-amp-coslr-200e_in1k': ('ImageNet-1k', 81.6),
    'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k': ('ImageNet-1k', 83.1),
    'resnet50_cim-pre_8xb256-amp-coslr-100e_in1k': ('ImageNet-1k', 78.6),
    'resnet50_cim-pre_8xb256-amp-coslr-300e_in1k': ('ImageNet-1k', 80.1),
    'vit-base-p16_cim-pre-in200_8xb256-amp-coslr-100e_in200':
    ('ImageNet-200', 90.12),
    # the authors' fine-tuned checkpoint (converted from their release)
    'vit-base-p16_cim-pre_3rdparty_in1k': ('ImageNet-1k', 83.1),
}
# The authors' two checkpoints: entries with `Converted From` (the release's
# download pages) and no `Weights`, for the files converted by
# tools/model_converters/cim_release_to_mmpretrain.py.
RELEASE = {
    'cim_vit-base-p16_3rdparty-300e_in1k': (
        'configs/cim_vitb_300e_release.py',
        'https://drive.google.com/file/d/1V5SqYIE6-RlWbA9MxudYK9p9ZQYCl2jp/'
        'view?usp=drive_link'),
    'vit-base-p16_cim-pre_3rdparty_in1k': (
        'configs/finetune/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py',
        'https://drive.google.com/file/d/1asFi9ei3UzL9nR2_-DRKt4b4X4r8yb0T/'
        'view?usp=drive_link'),
}


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def test_metafile_covers_every_config():
    configs = {m['Config'] for m in ENTRIES.values()}
    expected = {
        'configs/cim_vitb_300e.py', 'configs/cim_vits_300e.py',
        'configs/cim_r50_300e.py', 'configs/cim_vitb_300e_in200.py'
    } | {
        f'configs/finetune/{name}.py'
        for name in PAPER_TOP1  # fine-tuning entries are named as the files
        if name not in RELEASE
    } | {config for config, _ in RELEASE.values()}
    assert configs == expected
    assert len(ENTRIES) == 11
    for entry in ENTRIES.values():
        assert osp.isfile(osp.join(REPO, entry['Config'])), entry['Config']
        assert entry['In Collection'] == 'CIM'
        assert entry['Weights'] is None  # no released weights
    for name in PRETRAIN:  # every pre-training entry has its downstream
        assert set(ENTRIES[name]['Downstream']) <= set(FINETUNE)


def test_release_entries_point_at_the_release_and_fetch_nothing():
    for name, (config, weights) in RELEASE.items():
        entry = ENTRIES[name]
        assert entry['Config'] == config
        assert entry['Weights'] is None  # a web page, not a file
        assert entry['Converted From'] == dict(
            Weights=weights,
            Code='https://github.com/weivision/Correlational-Image-Modeling')
        assert ModelHub.get(name).data['Converted From'] == entry[
            'Converted From']
    assert ENTRIES['cim_vit-base-p16_3rdparty-300e_in1k']['Downstream'] == [
        'vit-base-p16_cim-pre_3rdparty_in1k'
    ]
    # pretrained=True warns and keeps random weights: nothing is fetched
    with pytest.warns(UserWarning, match='Unable to find pre-defined'):
        model = mmpretrain.get_model('vit-base-p16_cim-pre_3rdparty_in1k',
                                     pretrained=True)
    assert type(model).__name__ == 'ImageClassifier'


def test_list_models_lists_every_entry():
    listed = mmpretrain.list_models('*cim*')
    assert set(ENTRIES) <= set(listed)
    assert set(cim_mm.apis.CIM_MODELS) == set(ENTRIES)
    index_root = osp.dirname(model_zoo.find_model_index())
    for name, entry in ENTRIES.items():
        config = ModelHub._models_dict[name].config
        assert config == osp.join(index_root, entry['Config'])
        assert osp.isfile(config)
    classifiers = mmpretrain.list_models('*cim*', task='Image Classification')
    assert set(classifiers) == set(FINETUNE)


def test_results_are_the_paper_numbers():
    assert set(FINETUNE) == set(PAPER_TOP1)
    for name, (dataset, top1) in PAPER_TOP1.items():
        entry = ENTRIES[name]
        assert entry['Results'] == [
            dict(Task='Image Classification',
                 Dataset=dataset,
                 Metrics={'Top 1 Accuracy': top1})
        ]
        assert entry['Results Source'].startswith('paper')
        assert entry['Metadata']['Training Data'] == dataset
        metainfo = ModelHub.get(name)
        assert metainfo.results[0].metrics['Top 1 Accuracy'] == top1
    # Inherited from the CIM collection.
    full = ModelHub.get(FINETUNE[0]).full_model
    assert full.paper['URL'] == 'https://arxiv.org/abs/2303.12670'
    assert full.code == (
        'https://github.com/weivision/Correlational-Image-Modeling')
    assert osp.isfile(osp.join(REPO, 'configs', full.readme))


def test_registration_is_idempotent():
    before = dict(ModelHub._models_dict)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        names = model_zoo.register_cim_models()
        names_again = model_zoo.register_cim_models()
    assert names == names_again == [n.lower() for n in ENTRIES]
    assert ModelHub._models_dict == before


def test_registration_keeps_entries_it_does_not_own(monkeypatch):
    foreign = ModelHub.get(FINETUNE[0])
    foreign.config = '/elsewhere/other_config.py'
    hub = {FINETUNE[0]: foreign}
    monkeypatch.setattr(ModelHub, '_models_dict', hub)
    with pytest.warns(UserWarning, match='already registered'):
        names = model_zoo.register_cim_models()
    assert set(names) == set(ENTRIES)
    assert hub[FINETUNE[0]] is foreign  # left untouched
    assert hub[FINETUNE[1]].config.endswith(ENTRIES[FINETUNE[1]]['Config'])


def test_find_model_index_prefers_the_packaged_copy(tmp_path, monkeypatch):
    package = tmp_path / 'site' / 'cim_mm'
    (package / '.mim').mkdir(parents=True)
    monkeypatch.setattr(model_zoo, '_PACKAGE_DIR', str(package))
    assert model_zoo.find_model_index() is None
    with pytest.warns(UserWarning, match='not registered'):
        assert model_zoo.register_cim_models() == []
    (tmp_path / 'site' / 'model-index.yml').write_text('Import: []\n')
    assert model_zoo.find_model_index() == str(tmp_path / 'site' /
                                               'model-index.yml')
    (package / '.mim' / 'model-index.yml').write_text('Import: []\n')
    assert model_zoo.find_model_index() == str(package / '.mim' /
                                               'model-index.yml')


@pytest.mark.parametrize('name', PRETRAIN)
def test_get_model_builds_pretraining_entries(name):
    model = mmpretrain.get_model(name)
    assert type(model).__name__ == 'CIM'
    assert num_params(model) == ENTRIES[name]['Metadata']['Parameters']


@pytest.mark.slow
@pytest.mark.parametrize('name', FINETUNE)
def test_get_model_loads_a_local_state_dict(name, tmp_path):
    model = mmpretrain.get_model(name)
    assert type(model).__name__ == 'ImageClassifier'
    assert num_params(model) == ENTRIES[name]['Metadata']['Parameters']
    num_classes = 200 if name.endswith('in200') else 1000
    assert model.head.fc.out_features == num_classes

    # A plain state dict (tensors only), shifted so that every key that is
    # loaded differs from any fresh initialisation.
    state_dict = {k: v + 1 for k, v in model.state_dict().items()}
    del model
    path = str(tmp_path / 'weights.pth')
    torch.save({'state_dict': state_dict}, path)

    loaded = mmpretrain.get_model(name, pretrained=path)
    loaded_state = loaded.state_dict()
    assert loaded_state.keys() == state_dict.keys()
    not_loaded = [
        k for k, v in loaded_state.items()
        if not torch.equal(v, state_dict[k])
    ]
    assert not_loaded == []
    assert loaded._metainfo.name == name


class NotAWeight:
    """Any Python object: a pickle holding it is not weights-only."""


def test_get_model_reads_runner_checkpoints_weights_only(tmp_path):
    name = 'resnet50_cim-pre_8xb256-amp-coslr-100e_in1k'
    weight = torch.randn(1000, 2048)
    path = str(tmp_path / 'epoch_1.pth')
    # Like an mmengine runner checkpoint: the message hub pickles objects
    # that the weights-only reader accepts.
    runner_like = dict(
        meta=dict(epoch=1),
        state_dict={'head.fc.weight': weight},
        message_hub=dict(log_scalars={'loss': HistoryBuffer([1.0], [1])}))
    torch.save(runner_like, path)
    model = mmpretrain.get_model(name, pretrained=path)
    assert torch.equal(model.head.fc.weight, weight)

    runner_like['meta']['extra'] = NotAWeight()
    torch.save(runner_like, path)
    with pytest.raises(UntrustedCheckpointError,
                       match='Refused to load checkpoint'):
        mmpretrain.get_model(name, pretrained=path)
    # The documented way for a trusted file.
    with trusted_checkpoints():
        model = mmpretrain.get_model(name, pretrained=path)
    assert torch.equal(model.head.fc.weight, weight)


def _sdpa_flops(inputs, outputs):
    """aten::scaled_dot_product_attention: Q K^T and A V, in MACs."""
    from mmengine.analysis.jit_handles import get_shape
    query, key, value = (get_shape(x) for x in inputs[:3])
    rows = math.prod(query[:-1]) * key[-2]
    return rows * query[-1] + rows * value[-1]


@pytest.mark.parametrize('name', [
    'vit-small-p16_cim-pre_8xb256-amp-coslr-200e_in1k',
    'resnet50_cim-pre_8xb256-amp-coslr-100e_in1k'
])
def test_metafile_flops(name):
    """FLOPs at 224 (MACs, attention included) as stated in the metafile."""
    from mmengine.analysis import FlopAnalyzer
    model = mmpretrain.get_model(name)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (torch.rand(1, 3, 224, 224), ))
        analyzer.set_op_handle('aten::scaled_dot_product_attention',
                               _sdpa_flops)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        assert analyzer.total() == ENTRIES[name]['Metadata']['FLOPs']


@pytest.mark.slow
def test_import_cim_mm_registers_the_zoo():
    """``import cim_mm`` alone must register the models (a new process)."""
    code = ('import cim_mm, mmpretrain; '
            "print(len(mmpretrain.list_models('*cim*')))")
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True,
                         cwd=str(osp.dirname(REPO)),
                         timeout=600)
    assert out.stdout.strip().splitlines()[-1] == str(len(ENTRIES))
