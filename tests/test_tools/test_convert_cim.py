"""tools/model_converters/convert_cim.py end to end, and cim_mm.checkpoint's
key maps and verification on real models.

From a real (tiny) CIM runner checkpoint and a tiny ResNet pre-training
state, each conversion must fill the target backbone exactly (no missing, no
unexpected key) and compute the same features as the source encoder; what
cannot be read as weights only, or is not a CIM/mmpretrain checkpoint, is
refused with an error that names the file and what was found.
"""
import os.path as osp

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import Runner
from mmpretrain.models import ResNet, VisionTransformer

import cim_mm  # noqa: F401  (registers CIM)
from cim_mm.checkpoint import (CheckpointConversionError, build_target_model,
                               encoder_state_dict, expected_missing_keys,
                               mmpretrain_backbone, mmpretrain_to_mmseg,
                               mmpretrain_to_timm, read_checkpoint,
                               source_state_dict, timm_model_args,
                               verify_conversion)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'convert_cim.py')
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
TINY_VIT = dict(embed_dims=64,
                num_layers=2,
                num_heads=2,
                feedforward_channels=128)
ATOL = 1e-5


@pytest.fixture(name='run_converter')
def run_converter_fixture(run_tool_main):
    """The converter's command line, in this process."""
    return lambda *args: run_tool_main(CONVERTER, *args)


@pytest.fixture(scope='module')
def cim_checkpoint(demo_data_root, tiny_demo_cfg_options, tmp_path_factory):
    """A real runner checkpoint after 2 CIM steps of a 64-d 2-layer ViT."""
    work_dir = tmp_path_factory.mktemp('cim_tiny_vit')
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(tiny_demo_cfg_options(demo_data_root, max_iters=2))
    cfg.merge_from_dict({
        'model.backbone.arch': dict(TINY_VIT, _delete_=True),
        'model.neck.in_channels': 64,
        'model.neck.embed_dim': 32,
        'model.neck.num_heads': 2,
        'val_cfg': None,
        'val_dataloader': None,
        'val_evaluator': None,
        'test_cfg': None,
        'test_dataloader': None,
        'test_evaluator': None,
    })
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = work_dir.name  # unique in the session
    Runner.from_cfg(cfg).train()
    path = work_dir / 'iter_2.pth'
    assert path.is_file()
    return path


@pytest.fixture(scope='module')
def cim_state(cim_checkpoint):
    """The full state dict of the runner checkpoint (trusted: we made it)."""
    return torch.load(cim_checkpoint, weights_only=False)['state_dict']


def vit_source(backbone, **kwargs):
    """The mmpretrain ViT the CIM encoder is, loaded strictly, eval mode."""
    kwargs.setdefault('out_type', 'raw')
    model = VisionTransformer(arch=TINY_VIT, **kwargs)
    model.load_state_dict(backbone, strict=True)
    return in_eval_mode(model)


def in_eval_mode(model):
    """``model.eval()`` for modules whose ``train()`` returns None (mmpretrain
    ViT/ResNet, mmseg BEiT/MAE)."""
    model.eval()
    return model


def image(size=224, seed=0):
    return torch.randn(2,
                       3,
                       size,
                       size,
                       generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------
# Reading (the policy itself: tests/test_checkpoint/test_loading.py)
# ---------------------------------------------------------------------------
def test_runner_checkpoint_is_read_weights_only(cim_checkpoint):
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(cim_checkpoint, weights_only=True)  # no allowlist
    keys = source_state_dict(read_checkpoint(cim_checkpoint)).keys()
    assert {k.split('.')[0]
            for k in keys} == {'backbone', 'target_backbone', 'neck'}


class NotAWeight:
    pass


def test_arbitrary_pickled_object_is_refused_by_cli(run_converter, tmp_path):
    path = tmp_path / 'object.pth'
    torch.save(
        dict(state_dict={'backbone.w': torch.zeros(1)}, meta=NotAWeight()),
        path)
    result = run_converter(path, tmp_path / 'out.pth', '--to', 'timm')
    assert result.returncode == 2
    assert f"Refused to load checkpoint '{path}'" in result.stderr
    assert 'NotAWeight' in result.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_missing_file_names_the_path(run_converter, tmp_path):
    path = tmp_path / 'nope.pth'
    result = run_converter(path, tmp_path / 'out.pth', '--to', 'mmseg')
    assert result.returncode == 2
    assert f'Checkpoint file not found: {path}' in result.stderr


def test_wrong_prefix_says_what_was_found_and_expected(
        run_converter, cim_state, tmp_path):
    online = encoder_state_dict(cim_state)
    with pytest.raises(CheckpointConversionError) as err:
        encoder_state_dict(online, source='converted.pth')  # converted
    message = str(err.value)
    assert "'converted.pth' has no 'backbone.*' keys" in message
    assert 'layers.* (' in message and 'already converted' in message

    neck_only = {k: v for k, v in cim_state.items() if k.startswith('neck')}
    with pytest.raises(CheckpointConversionError, match=r'Found: neck\.\*'):
        encoder_state_dict(neck_only)

    shared = {k: v for k, v in cim_state.items() if k.startswith('backbone')}
    with pytest.raises(CheckpointConversionError,
                       match='use --encoder online'):
        encoder_state_dict(shared, 'target')

    path = tmp_path / 'converted.pth'
    torch.save(dict(state_dict=online), path)
    result = run_converter(path, tmp_path / 'out.pth', '--to', 'mmpretrain')
    assert result.returncode == 2
    assert "has no 'backbone.*' keys" in result.stderr


# ---------------------------------------------------------------------------
# ViT: mmpretrain, mmseg, timm
# ---------------------------------------------------------------------------
def test_cli_mmpretrain_output_loads_by_init_cfg_without_prefix(run_converter,
        cim_checkpoint, cim_state, tmp_path):
    out = tmp_path / 'sub' / 'cim_vit_mmpretrain.pth'
    result = run_converter(cim_checkpoint, out, '--to', 'mmpretrain')
    assert result.returncode == 0, result.stderr
    assert 'missing [], unexpected []' in result.stdout
    saved = torch.load(out, weights_only=True)  # plain: no allowlist needed
    assert saved['meta']['encoder'] == 'online'
    assert saved['meta']['source_iter'] == 2

    online = encoder_state_dict(cim_state)
    model = VisionTransformer(arch=TINY_VIT,
                              out_type='raw',
                              init_cfg=dict(type='Pretrained',
                                            checkpoint=str(out)))
    model.init_weights()
    loaded = model.state_dict()
    assert loaded.keys() == online.keys()
    assert all(torch.equal(loaded[k], online[k]) for k in online)
    x = image()
    torch.testing.assert_close(in_eval_mode(model)(x)[-1],
                               vit_source(online)(x)[-1],
                               atol=ATOL,
                               rtol=0)


def test_target_encoder_selection_takes_the_ema_weights(cim_state):
    online = encoder_state_dict(cim_state, 'online')
    target = encoder_state_dict(cim_state, 'target')
    assert online.keys() == target.keys()
    assert all(
        torch.equal(target[k], cim_state['target_backbone.' + k])
        for k in target)
    trained = [k for k in online if not torch.equal(online[k], target[k])]
    assert any(k.startswith('layers.0.attn') for k in trained)
    timm_target = mmpretrain_to_timm(target)
    assert torch.equal(timm_target['blocks.0.attn.qkv.weight'],
                       target['layers.0.attn.qkv.weight'])


@pytest.mark.parametrize('encoder', ['online', 'target'])
def test_timm_vit_loads_strictly_and_gives_the_same_tokens(cim_state, encoder):
    backbone = encoder_state_dict(cim_state, encoder)
    converted = mmpretrain_to_timm(backbone)
    assert timm_model_args(backbone, num_heads=2) == ('vit_base_patch16_224',
                                                      dict(embed_dim=64,
                                                           depth=2,
                                                           num_heads=2,
                                                           mlp_ratio=2.0))
    model = timm.create_model('vit_base_patch16_224',
                              pretrained=False,
                              embed_dim=64,
                              depth=2,
                              num_heads=2,
                              mlp_ratio=2.0).eval()
    report = verify_conversion(model, converted,
                               expected_missing_keys('timm', 'vit'))
    assert report['ok'], report
    assert report['expected_missing'] == ['head.weight', 'head.bias']
    x = image()
    # (B, 1 + 196, C) tokens after the final norm, cls included
    torch.testing.assert_close(model.forward_features(x),
                               vit_source(backbone)(x)[-1],
                               atol=ATOL,
                               rtol=0)


def test_verification_reports_missing_and_unexpected_keys(cim_state):
    backbone = encoder_state_dict(cim_state)
    converted = mmpretrain_to_timm(backbone)
    del converted['blocks.1.mlp.fc2.weight']
    converted['blocks.1.mlp.fc3.weight'] = torch.zeros(1)
    model = build_target_model('timm', backbone, num_heads=2)
    report = verify_conversion(model, converted,
                               expected_missing_keys('timm', 'vit'))
    assert not report['ok']
    assert report['missing'] == ['blocks.1.mlp.fc2.weight']
    assert report['unexpected'] == ['blocks.1.mlp.fc3.weight']


def test_unknown_encoder_layer_is_not_silently_dropped(cim_state):
    backbone = encoder_state_dict(cim_state)
    backbone['layers.0.attn.gamma1.weight'] = torch.ones(64)  # layer scale
    for convert in (mmpretrain_to_timm, mmpretrain_to_mmseg):
        with pytest.raises(CheckpointConversionError,
                           match='layers.0.attn.gamma1.weight'):
            convert(backbone)


def _mmseg_mae(checkpoint, img_size, final_norm=True):
    from mmseg.models.backbones import MAE
    model = MAE(img_size=img_size,
                embed_dims=64,
                num_layers=2,
                num_heads=2,
                mlp_ratio=2,
                norm_cfg=dict(type='LN', eps=1e-6),
                final_norm=final_norm,
                out_indices=[0, 1],
                init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    model.init_weights()
    return in_eval_mode(model)


@pytest.mark.parametrize('img_size', [224, 128])
def test_mmseg_mae_from_init_cfg_gives_the_same_feature_maps(
        cim_state, tmp_path, img_size):
    backbone = encoder_state_dict(cim_state)
    converted = mmpretrain_to_mmseg(backbone)
    report = verify_conversion(
        build_target_model('mmseg', backbone, num_heads=2), converted,
        expected_missing_keys('mmseg', 'vit'))
    assert report['ok'], report
    assert len(report['expected_missing']) == 4  # 2 x rel. pos. table+index

    path = tmp_path / 'mmseg.pth'
    torch.save(dict(state_dict=converted), path)
    # at 128, MAE resizes the 14x14 position embedding to 8x8 when loading
    # and mmpretrain's ViT at run time: both bicubic
    mae = _mmseg_mae(path, img_size)
    for layer in mae.layers:  # what the missing keys leave: no extra terms
        assert not layer.attn.relative_position_bias_table.any()
    source = vit_source(backbone, out_type='featmap', out_indices=[0, 1])
    x = image(img_size)
    for ours, theirs in zip(mae(x), source(x)):
        assert ours.shape == (2, 64, img_size // 16, img_size // 16)
        torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)


def test_mmseg_accepts_a_fine_tuned_image_classifier(run_converter, tmp_path):
    from mmpretrain.models import ImageClassifier
    classifier = ImageClassifier(
        backbone=dict(type='VisionTransformer',
                      arch=TINY_VIT,
                      out_type='avg_featmap',
                      final_norm=False),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
        data_preprocessor=dict(type='ClsDataPreprocessor'))
    classifier.init_weights()
    src = tmp_path / 'finetuned.pth'
    torch.save(dict(state_dict=classifier.state_dict(), meta=dict(epoch=100)),
               src)
    out = tmp_path / 'mmseg.pth'
    result = run_converter(src, out, '--to', 'mmseg', '--num-heads', '2')
    assert result.returncode == 0, result.stderr
    assert 'head.* (2)' in result.stdout  # left out
    converted = torch.load(out, weights_only=True)['state_dict']
    assert not any(k.startswith(('ln1.', 'ln2.', 'head.')) for k in converted)

    mae = _mmseg_mae(out, 224, final_norm=False)
    source = VisionTransformer(arch=TINY_VIT,
                               out_type='featmap',
                               final_norm=False,
                               out_indices=[0, 1])
    missing, unexpected = source.load_state_dict(
        classifier.backbone.state_dict(), strict=False)
    assert (missing, unexpected) == ([], ['ln2.weight', 'ln2.bias'])
    x = image()
    for ours, theirs in zip(mae(x), in_eval_mode(source)(x)):
        torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)


# ---------------------------------------------------------------------------
# ResNet
# ---------------------------------------------------------------------------
def resnet_pretraining_state(depth):
    """A CIM-shaped runner checkpoint of an mmpretrain ResNet: online and
    target encoder (different weights), a neck and a message hub."""
    generator = torch.Generator().manual_seed(depth)
    online = ResNet(depth=depth, out_indices=(3, )).state_dict()
    state = {}
    for prefix in ('backbone.', 'target_backbone.'):  # independent draws
        for key, value in online.items():
            if value.is_floating_point():
                value = _realistic_weight(key, value.shape, generator)
            state[prefix + key] = value
    state['neck.proj.weight'] = torch.zeros(8, 8)
    hub = dict(log_scalars={'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])})
    return dict(state_dict=state, message_hub=hub, meta=dict(iter=10))


def _realistic_weight(key, shape, generator):
    """Kaiming-normal convs, BN affine near (1, 0), running mean near 0 and
    running variance near 1 (positive): finite features through layer4."""
    noise = torch.randn(shape, generator=generator)
    if len(shape) == 4:  # conv (out, in, kh, kw)
        return noise * (2 / (shape[1] * shape[2] * shape[3]))**0.5
    if key.endswith('running_var'):
        return 1 + 0.1 * noise.abs()
    if key.endswith('weight'):  # BN scale
        return 1 + 0.1 * noise
    return 0.1 * noise  # BN shift and running mean


def test_resnet18_converts_to_every_target_with_the_same_features(tmp_path):
    src = tmp_path / 'cim_r18.pth'
    torch.save(resnet_pretraining_state(18), src)
    state = source_state_dict(read_checkpoint(src))
    x = image(64)
    for encoder in ('online', 'target'):
        backbone = encoder_state_dict(state, encoder)
        source = ResNet(depth=18, out_indices=(3, ))
        source.load_state_dict(backbone, strict=True)
        expected = in_eval_mode(source)(x)[-1]
        peak = expected.abs().max().item()
        assert expected.isfinite().all() and peak > 0, (encoder, peak)
        # Eval-mode BN with these stats does not renormalise: layer4 peaks
        # near 1e2, where one float32 ulp (~8e-6) is about ATOL. So ATOL is
        # relative to the peak (~1e-3 here); one wrong BN tensor in layer4
        # already errs by ~10.
        atol = ATOL * max(1.0, peak)
        for to, convert in (('mmpretrain', mmpretrain_backbone),
                            ('mmseg', mmpretrain_to_mmseg),
                            ('timm', mmpretrain_to_timm)):
            model = in_eval_mode(build_target_model(to, backbone))
            report = verify_conversion(model, convert(backbone),
                                       expected_missing_keys(to, 'resnet'))
            assert report['ok'], (to, report)
            if to == 'timm':
                assert report['expected_missing'] == ['fc.weight', 'fc.bias']
                feats = model.forward_features(x)
            else:
                feats = model(x)[-1]
            torch.testing.assert_close(feats, expected, atol=atol, rtol=0)
    online = encoder_state_dict(state, 'online')['layer4.1.conv2.weight']
    target = encoder_state_dict(state, 'target')['layer4.1.conv2.weight']
    assert not torch.equal(online, target)


def test_resnet50_keys_map_onto_timm_and_mmseg_resnet50():
    backbone = ResNet(depth=50, out_indices=(3, )).state_dict()
    assert timm_model_args(backbone) == ('resnet50', {})
    for to, convert in (('mmseg', mmpretrain_to_mmseg), ('timm',
                                                         mmpretrain_to_timm)):
        model = build_target_model(to, backbone)
        report = verify_conversion(model, convert(backbone),
                                   expected_missing_keys(to, 'resnet'))
        assert report['ok'], (to, report)
        assert type(model).__module__.startswith(to)
