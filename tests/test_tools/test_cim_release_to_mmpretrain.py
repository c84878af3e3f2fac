"""tools/model_converters/cim_release_to_mmpretrain.py on synthetic release
files (tests/cim_release.py), against references that use no cim_mm code.

Small files (the release's tiny width, 192-d, with 2 blocks; its 512-d
decoder) for the numbers, the tools and the errors; one ViT-B/16 file
(12 blocks, the shipped configs unchanged) for the conversion itself.
"""
import copy
import importlib.util
import json
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

import mmpretrain
from mmpretrain.structures import DataSample

import cim_mm.apis  # noqa: F401  (registers CIM and the model zoo)
from cim_mm.apis import CorrelationInferencer
from cim_mm.checkpoint import read_checkpoint

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import cim_release  # noqa: E402  (tests/cim_release.py)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters',
                'cim_release_to_mmpretrain.py')
CONVERT_CIM = osp.join(REPO, 'tools', 'model_converters', 'convert_cim.py')
INFER = osp.join(REPO, 'tools', 'infer_correlation.py')
RELEASE_CONFIG = osp.join(REPO, 'configs', 'cim_vitb_300e_release.py')
FINETUNE_CONFIG = osp.join(
    REPO, 'configs', 'finetune',
    'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py')
PRETRAINED = 'cim_vit-base-p16_3rdparty-300e_in1k'
FINETUNED = 'vit-base-p16_cim-pre_3rdparty_in1k'
TINY_ARCH = dict(_delete_=True,
                 embed_dims=192,
                 num_layers=2,
                 num_heads=3,
                 feedforward_channels=768)
PRE_OVERRIDES = dict(backbone=dict(arch=TINY_ARCH), neck=dict(in_channels=192))
FT_OVERRIDES = dict(backbone=dict(arch=TINY_ARCH),
                    head=dict(in_channels=192, num_classes=10))
ATOL = 1e-5


def _load_tool(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool(TOOL, 'cim_release_to_mmpretrain')


def convert(capsys, *args):
    """Run the tool in this process: (exit status, stdout, stderr)."""
    status = tool.main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def images(size, count=2, seed=0):
    return torch.randn(count,
                       3,
                       size,
                       size,
                       generator=torch.Generator().manual_seed(seed))


def model_of(name, overrides, path=None):
    return mmpretrain.get_model(name,
                                pretrained=path or False,
                                **copy.deepcopy(overrides)).eval()


def tiny_config(tmp_path, base, overrides):
    """A config file inheriting ``base`` with the tiny arch."""
    path = tmp_path / f'tiny_{osp.basename(base)}'
    path.write_text(f'_base_ = [{base!r}]\nmodel = {overrides!r}\n')
    return str(path)


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """Tiny release files and their converted outputs (converted once)."""
    root = tmp_path_factory.mktemp('cim_release')
    files = dict(pre_state=cim_release.pretrained_state(),
                 ft_state=cim_release.finetuned_state())
    for kind in ('pre', 'ft'):
        src = cim_release.save_release(root / f'{kind}.pth',
                                       files[f'{kind}_state'])
        dst = root / f'{kind}_converted.pth'
        assert tool.main([str(src), str(dst)]) == 0
        files[kind], files[f'{kind}_converted'] = str(src), str(dst)
    return files


# ---------------------------------------------------------------------------
# What the tool prints and writes
# ---------------------------------------------------------------------------
def test_pretrained_report_names_what_was_found_and_dropped(
        release, tmp_path, capsys):
    status, out, err = convert(capsys, release['pre'], tmp_path / 'o.pth')
    assert status == 0, err
    assert 'a pre-trained CIM release ViT' in out
    assert '192-d, 2 blocks, 3 heads, MLP 768' in out
    assert '10x10 context grid (160 px contexts)' in out
    assert ('decoder_g_embed.* (16), decoder_g_embed_c.* (16), '
            'decoder_predictor.* (10)') in out
    assert 'decoder_pos_embed checked' in out
    assert ('loaded strictly into CIM of configs/cim_vitb_300e_release.py'
            in out)
    assert 'missing [], unexpected []' in out
    saved = read_checkpoint(tmp_path / 'o.pth', runner_objects=False)
    assert saved['meta']['kind'] == 'pre-trained'
    assert saved['meta']['source_epoch'] == 299
    assert {k.split('.')[0]
            for k in saved['state_dict']
            } == {'backbone', 'target_backbone', 'neck'}


def test_finetuned_report_and_output(release, capsys, tmp_path):
    status, out, err = convert(capsys, release['ft'], tmp_path / 'o.pth')
    assert status == 0, err
    assert 'a fine-tuned CIM release ViT' in out
    assert 'head -> head.fc (10 classes)' in out
    assert 'loaded strictly into ImageClassifier of configs/finetune/' in out
    saved = read_checkpoint(tmp_path / 'o.pth', runner_objects=False)
    assert {k.split('.')[0]
            for k in saved['state_dict']} == {'backbone', 'head'}


# ---------------------------------------------------------------------------
# The converted models compute the release's function
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def cim_model(release):
    return model_of(PRETRAINED, PRE_OVERRIDES, release['pre_converted'])


def test_encoders_equal_timm_at_224_160_and_64_px(release, cim_model):
    state = release['pre_state']
    online = cim_release.timm_vit(state)
    target = cim_release.timm_vit(state, prefix='_c')
    with torch.no_grad():
        x = images(224)
        torch.testing.assert_close(cim_model.backbone(x)[-1],
                                   online.forward_features(x),
                                   atol=ATOL,
                                   rtol=0)
        torch.testing.assert_close(cim_model.target_backbone(x)[-1],
                                   target.forward_features(x),
                                   atol=ATOL,
                                   rtol=0)
        for size in (160, 64):
            x = images(size)
            torch.testing.assert_close(cim_model.backbone(x)[-1],
                                       cim_release.encode(online, x),
                                       atol=ATOL,
                                       rtol=0)
            torch.testing.assert_close(cim_model.target_backbone(x)[-1],
                                       cim_release.encode(target, x),
                                       atol=ATOL,
                                       rtol=0)


def test_without_the_release_resize_the_encoder_differs(release):
    """cim_vitb_300e.py (size= resizing) on the same weights: not the
    release's function at 160 and 64 px (hence the release config)."""
    plain = model_of('cim_vit-base-p16_8xb512-amp-coslr-300e_in1k',
                     PRE_OVERRIDES, release['pre_converted'])
    online = cim_release.timm_vit(release['pre_state'])
    with torch.no_grad():
        for size in (160, 64):
            x = images(size)
            ref = cim_release.encode(online, x)
            rel = (plain.backbone(x)[-1] - ref).norm() / ref.norm()
            assert rel > 1e-3, size


def test_decoder_equals_the_torch_reference(release, cim_model):
    state = release['pre_state']
    decoder = cim_release.DecoderReference(state)
    gen = torch.Generator().manual_seed(3)
    context = torch.randn(2, 101, 192, generator=gen)
    exemplars = torch.randn(6, 17, 192, generator=gen)
    with torch.no_grad():
        ours = cim_model.neck(context, exemplars, 3).sigmoid()
    ref = decoder(context.repeat_interleave(3, dim=0), exemplars)
    assert ours.shape == (2, 3, 160, 160)
    torch.testing.assert_close(ours.flatten(0, 1), ref, atol=ATOL, rtol=0)
    assert ref.std() > 1e-2  # a map, not a constant


def test_whole_model_predicts_the_release_maps(release, cim_model):
    state = release['pre_state']
    online = cim_release.timm_vit(state)
    target = cim_release.timm_vit(state, prefix='_c')
    decoder = cim_release.DecoderReference(state)
    context = images(160, seed=1)
    exemplars = [images(64, seed=10 + k) for k in range(6)]
    samples = cim_model([context] + exemplars,
                        [DataSample() for _ in range(2)],
                        mode='predict')
    ours = torch.stack([s.pred_corr_maps for s in samples])
    ctx = cim_release.encode(target, context).repeat_interleave(6, dim=0)
    ex = cim_release.encode(online, torch.stack(exemplars, 1).flatten(0, 1))
    ref = decoder(ctx, ex).reshape(2, 6, 160, 160)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_finetuned_classifier_equals_timm_global_pool(release):
    state = release['ft_state']
    reference = cim_release.timm_vit({
        k: v
        for k, v in state.items()
    },
                                     global_pool='avg',
                                     num_classes=10)
    model = model_of(FINETUNED, FT_OVERRIDES, release['ft_converted'])
    x = images(224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=ATOL, rtol=0)


def test_convert_cim_takes_the_classifier_on_to_mmseg(release, tmp_path):
    """ADE20K transfer starts from the fine-tuned encoder (mmseg's MAE)."""
    convert_cim = _load_tool(CONVERT_CIM, 'convert_cim')
    assert convert_cim.main([
        release['ft_converted'],
        str(tmp_path / 'mmseg.pth'), '--to', 'mmseg', '--num-heads', '3'
    ]) == 0
    state = read_checkpoint(tmp_path / 'mmseg.pth')['state_dict']
    assert torch.equal(state['layers.1.ffn.layers.1.weight'],
                       release['ft_state']['blocks.1.mlp.fc2.weight'])


def test_finetune_config_loads_the_classifier_strictly(release):
    """As tools/test.py and eval_robustness.py load it (mmengine's
    load_checkpoint, strict)."""
    cfg = Config.fromfile(FINETUNE_CONFIG)
    cfg.merge_from_dict(dict(model=copy.deepcopy(FT_OVERRIDES)))
    model = mmpretrain.get_model(cfg)
    load_checkpoint(model,
                    release['ft_converted'],
                    map_location='cpu',
                    strict=True)
    converted = read_checkpoint(release['ft_converted'])['state_dict']
    assert all(
        torch.equal(v, converted[k]) for k, v in model.state_dict().items())


# ---------------------------------------------------------------------------
# The tools that take the converted pre-trained file
# ---------------------------------------------------------------------------
def test_inferencer_on_the_converted_file(release, nonsquare_photos,
                                          cim_model):
    inferencer = CorrelationInferencer(PRETRAINED,
                                       pretrained=release['pre_converted'],
                                       device='cpu',
                                       **copy.deepcopy(PRE_OVERRIDES))
    assert (inferencer.context_size, inferencer.exemplar_size) == (160, 64)
    for key, value in cim_model.state_dict().items():
        assert torch.equal(inferencer.model.state_dict()[key], value), key
    result, = inferencer(nonsquare_photos['coffee'], box=(100, 50, 300, 200))
    assert result['pred_map'].shape == (400, 600)
    assert 0 <= result['pred_map'].min() <= result['peak'] <= 1


@pytest.mark.slow
def test_infer_correlation_tool_on_the_converted_file(release,
                                                      nonsquare_photos,
                                                      tmp_path):
    config = tiny_config(tmp_path, RELEASE_CONFIG, PRE_OVERRIDES)
    out = subprocess.run([
        sys.executable, INFER, config, release['pre_converted'],
        nonsquare_photos['chelsea'], '--box', '50', '40', '200', '160',
        '--device', 'cpu', '--out-dir',
        str(tmp_path)
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result['query_box'] == [50, 40, 200, 160]
    assert osp.isfile(result['map']) and osp.isfile(result['overlay'])


def test_convert_cim_takes_it_on_to_timm_and_fine_tuning(release, tmp_path):
    """convert_cim.py as for cim_mm's own checkpoints: the timm output is
    the release's online encoder; the mmpretrain output initialises the
    fine-tuning config's backbone."""
    convert_cim = _load_tool(CONVERT_CIM, 'convert_cim')
    timm_file, backbone_file = tmp_path / 'timm.pth', tmp_path / 'bb.pth'
    assert convert_cim.main(
        [release['pre_converted'],
         str(timm_file), '--to', 'timm']) == 0
    assert convert_cim.main(
        [release['pre_converted'],
         str(backbone_file), '--to', 'mmpretrain']) == 0
    reference = cim_release.timm_vit(release['pre_state'])
    timm_state = read_checkpoint(timm_file)
    assert timm_state.keys() == reference.state_dict().keys()
    for key, value in reference.state_dict().items():
        assert torch.equal(timm_state[key], value), key

    cfg = Config.fromfile(FINETUNE_CONFIG)
    cfg.merge_from_dict(dict(model=copy.deepcopy(FT_OVERRIDES)))
    cfg.model.backbone.init_cfg.checkpoint = str(backbone_file)
    model = mmpretrain.get_model(cfg)
    model.init_weights()
    state = release['pre_state']
    torch.testing.assert_close(model.backbone.pos_embed.data,
                               state['pos_embed'],
                               atol=0,
                               rtol=0)
    torch.testing.assert_close(model.backbone.layers[1].attn.qkv.weight.data,
                               state['blocks.1.attn.qkv.weight'],
                               atol=0,
                               rtol=0)


# ---------------------------------------------------------------------------
# Bad input: a clear error, nothing written
# ---------------------------------------------------------------------------
def _save(path, obj):
    torch.save(obj, path)
    return path


def _bad_inputs(release, tmp_path):
    import timm
    pre = release['pre_state']
    timm_vit = timm.create_model('vit_tiny_patch16_224',
                                 pretrained=False,
                                 depth=1)
    mae = {k: v for k, v in pre.items() if not k.startswith('decoder')}
    mae.update({
        'mask_token': torch.zeros(1, 1, 512),
        'decoder_blocks.0.norm1.weight': torch.ones(512),
        'decoder_pred.weight': torch.zeros(768, 512),
    })
    narrow = dict(pre)
    narrow['blocks.0.attn.qkv.weight'] = torch.zeros(3 * 96, 192)
    uneven = {k: v for k, v in pre.items() if not k.startswith('blocks_c.1.')}
    learnt = dict(pre, decoder_pos_embed=torch.randn(1, 101, 512))
    return {
        'cim_mm': (release['pre_converted'], 'cim_mm CIM checkpoint'),
        'mmpretrain': (release['ft_converted'], 'mmpretrain model checkpoint'),
        'mae': (_save(tmp_path / 'mae.pth',
                      dict(model=mae)), 'MAE pre-training checkpoint'),
        'timm': (_save(tmp_path / 'timm.pth', timm_vit.state_dict()),
                 'timm ViT classifier with cls-token pooling'),
        'timm backbone': (_save(
            tmp_path / 'timm_backbone.pth', {
                k: v
                for k, v in timm_vit.state_dict().items()
                if not k.startswith('head.')
            }), 'timm ViT backbone without a CIM decoder'),
        'narrow qkv': (_save(tmp_path / 'narrow.pth',
                             dict(model=narrow)), 'do not fit a release ViT'),
        'uneven target': (_save(tmp_path / 'uneven.pth', dict(model=uneven)),
                          'blocks_c.* (the EMA target) has 1 blocks'),
        'learnt decoder pe':
        (_save(tmp_path / 'learnt.pth',
               dict(model=learnt)), 'decoder_pos_embed is not the fixed 2-D'),
    }


def test_bad_inputs_are_clear_errors(release, tmp_path, capsys):
    for name, (path, message) in _bad_inputs(release, tmp_path).items():
        dst = tmp_path / f'{name}_out.pth'
        status, out, err = convert(capsys, path, dst)
        assert status == 2, (name, out, err)
        assert message in err, (name, err)
        assert 'Traceback' not in err
        if name not in ('narrow qkv', 'uneven target', 'learnt decoder pe'):
            assert 'Expected a CIM release pre-training checkpoint' in err
            assert 'Found: ' in err
        assert not dst.exists()


def test_truncated_file_and_unknown_width(release, tmp_path, capsys):
    data = open(release['pre'], 'rb').read()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    status, _, err = convert(capsys, truncated, tmp_path / 'o.pth')
    assert status == 2 and f"Cannot read '{truncated}'" in err

    state = cim_release.pretrained_state(dims=128, depth=1)
    path = cim_release.save_release(tmp_path / 'w128.pth', state)
    status, _, err = convert(capsys, path, tmp_path / 'o.pth')
    assert status == 2
    assert 'A 128-d encoder is none of the release archs' in err
    assert '--num-heads' in err
    # with the heads given, any width converts
    status, out, err = convert(capsys, path, tmp_path / 'o.pth', '--num-heads',
                               '2')
    assert status == 0, err
    assert 'missing [], unexpected []' in out


def test_patch14_release_converts_with_a_warning(tmp_path, capsys):
    """14 px patches (the release's huge): the context size comes from the
    file's args; 160 px is no multiple of 14, which is said."""
    state = cim_release.pretrained_state(patch=14, depth=1)
    path = cim_release.save_release(tmp_path / 'p14.pth', state)
    status, out, err = convert(capsys, path, tmp_path / 'o.pth')
    assert status == 0, err
    assert '11x11 context grid (160 px contexts)' in out
    assert "'out_size': 160" in out and "'patch_size': 14" in out
    assert 'warning: 160 px contexts are not a multiple of the 14 px' in err


@pytest.mark.slow
def test_exit_status_of_the_command_line(release, tmp_path):
    out = subprocess.run([
        sys.executable, TOOL, release['pre_converted'],
        str(tmp_path / 'o.pth')
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO,
                         timeout=600)
    assert out.returncode == 2
    # the error is the last line (before it, at most upstream's warnings,
    # e.g. mmcv-lite's), and there is no traceback
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'cim_mm CIM' in last, out.stderr
    assert 'Traceback' not in out.stderr
    assert not (tmp_path / 'o.pth').exists()


# ---------------------------------------------------------------------------
# ViT-B/16: the published arch, the shipped configs unchanged
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_vit_base_release_files_convert_for_the_shipped_configs(
        tmp_path, capsys):
    """The published shapes (12 blocks of 768-d, the 4096-wide contrastive
    MLPs: ~0.9 GB) convert with no model override: the tool loads them
    strictly into the models of the shipped configs (the model zoo entries),
    as get_model(name, pretrained=...) does for the classifier."""
    start = time.time()
    state = cim_release.pretrained_state(dims=768, depth=12, hidden=4096)
    assert len(state) == 361
    src = cim_release.save_release(tmp_path / 'checkpoint-299.pth', state)
    del state
    dst = tmp_path / 'cim_vitb_release.pth'
    status, out, err = convert(capsys, src, dst)
    assert status == 0, err
    assert "768-d, 12 blocks, 12 heads, MLP 3072" in out
    assert "the release's vit_base_patch16" in out
    assert ('loaded strictly into CIM of configs/cim_vitb_300e_release.py:'
            ' 322 tensors, missing [], unexpected []') in out
    saved = read_checkpoint(dst, runner_objects=False)
    assert len(saved['state_dict']) == 322
    del saved
    src.unlink()
    dst.unlink()

    state = cim_release.finetuned_state(dims=768, depth=12, num_classes=1000)
    assert len(state) == 152
    src = cim_release.save_release(tmp_path / 'checkpoint-99.pth', state)
    status, out, err = convert(capsys, src, dst)
    assert status == 0, err
    assert ('loaded strictly into ImageClassifier of configs/finetune/'
            'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py: 152 '
            'tensors, missing [], unexpected []') in out
    model = mmpretrain.get_model(FINETUNED, pretrained=str(dst))
    assert torch.equal(model.head.fc.weight, state['head.weight'])
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    print(f'ViT-B conversions: {time.time() - start:.1f} s')
