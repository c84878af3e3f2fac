"""cim_mm.evaluation.knn: DINO's weighted k-NN on hand-made features, the
pooling and unmasked forward of mmpretrain backbones, the gathering of the
ranks' features, checkpoint loading, and the whole evaluation on tiny
folders of real photos (CPU, seconds). The monitor's use of it:
tests/test_engine/test_hooks/test_knn_monitor_hook.py."""
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.models import MAEViT, ResNet
from mmpretrain.registry import MODELS

import cim_mm  # noqa: F401
from cim_mm.evaluation.knn import (backbone_input_size, build_backbone,
                                   build_normaliser, forward_backbone,
                                   gather_shards, knn_accuracy,
                                   load_backbone_weights, pool_features,
                                   run_knn_eval, shard_indices, topk_accuracy,
                                   weighted_knn_votes)
from cim_mm.evaluation.knn import features

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'cim_demo.py')
TINY_CIM = {'model.backbone.arch.num_layers': 2}


def unit(*degrees):
    """(N, 2) unit vectors at these angles."""
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], 1).float()


# ---------------------------------------------------------------------------
# k-NN arithmetic
# ---------------------------------------------------------------------------
def test_votes_are_summed_exp_similarity_over_temperature():
    train = unit(0, 10, 20, 90, 180)
    labels = torch.tensor([0, 1, 1, 2, 2])
    votes = weighted_knn_votes(train, labels, unit(0), 3, k=3,
                               temperature=0.1)
    cos10, cos20 = math.cos(math.radians(10)), math.cos(math.radians(20))
    expected = [math.exp(10), math.exp(cos10 / 0.1) + math.exp(cos20 / 0.1), 0]
    np.testing.assert_allclose(votes[0].double() * math.exp(10), expected,
                               rtol=1e-4)
    # two near neighbours of class 1 outvote the exact match of class 0 ...
    assert votes.argmax().item() == 1
    # ... unless the temperature is low (no overflow at exp(1 / 0.01))
    sharp = weighted_knn_votes(train, labels, unit(0), 3, k=3,
                               temperature=0.01)
    assert torch.isfinite(sharp).all() and sharp.argmax().item() == 0
    # only the k nearest vote
    assert weighted_knn_votes(train, labels, unit(100), 3, k=1).argmax() == 2


def test_matches_a_brute_force_reference_in_chunks():
    gen = torch.Generator().manual_seed(0)
    train = F.normalize(torch.randn(50, 8, generator=gen), dim=1)
    test = F.normalize(torch.randn(13, 8, generator=gen), dim=1)
    labels = torch.randint(0, 4, (50, ), generator=gen)
    sim = test @ train.T
    top, idx = sim.topk(5, dim=1)
    reference = torch.zeros(13, 4).scatter_add_(1, labels[idx],
                                                ((top - 1) / 0.07).exp())
    for chunk in (1, 4, 256):
        votes = weighted_knn_votes(train, labels, test, 4, k=5,
                                   chunk_size=chunk)
        torch.testing.assert_close(votes, reference)


def test_k_is_clipped_to_the_training_set():
    train, labels = unit(0, 45, 90), torch.tensor([0, 1, 1])
    torch.testing.assert_close(
        weighted_knn_votes(train, labels, unit(10), 2, k=20),
        weighted_knn_votes(train, labels, unit(10), 2, k=3))
    with pytest.raises(ValueError, match='k must be >= 1'):
        weighted_knn_votes(train, labels, unit(10), 2, k=0)


def test_ties_are_deterministic():
    """Equal similarities: the lower training index is the neighbour;
    equal votes: the lower class index ranks first."""
    train, labels = unit(30, 30, 30), torch.tensor([2, 0, 1])
    votes = weighted_knn_votes(train, labels, unit(30), 3, k=1)
    assert votes[0].nonzero().flatten().tolist() == [2]
    votes = weighted_knn_votes(train, labels, unit(30), 3, k=2)
    assert votes[0, 0] == votes[0, 2] and votes[0, 1] == 0
    assert topk_accuracy(votes, torch.tensor([0]), (1, 2)) == dict(
        top1=100.0, top2=100.0)
    assert topk_accuracy(votes, torch.tensor([2]), (1, 2)) == dict(
        top1=0.0, top2=100.0)


def test_topk_accuracy_with_fewer_classes_than_k():
    votes = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.0, 0.4],
                          [0.3, 0.3, 0.4]])
    labels = torch.tensor([1, 2, 0])
    assert topk_accuracy(votes, labels) == dict(
        top1=pytest.approx(100 / 3), top5=100.0)


def test_knn_accuracy_is_votes_then_topk():
    gen = torch.Generator().manual_seed(1)
    train = F.normalize(torch.randn(30, 4, generator=gen), dim=1)
    test = F.normalize(torch.randn(9, 4, generator=gen), dim=1)
    labels = torch.randint(0, 6, (30, ), generator=gen)
    truth = torch.randint(0, 6, (9, ), generator=gen)
    assert knn_accuracy(train, labels, test, truth, 6, k=4,
                        temperature=0.1) == topk_accuracy(
                            weighted_knn_votes(train, labels, test, 6, k=4,
                                               temperature=0.1), truth)


# ---------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('total,world', [(7, 3), (6, 2), (3, 3)])
def test_gathered_shards_are_in_dataset_order(monkeypatch, total, world):
    """Rank r extracts indices r, r + W, ...; after the all-gather every
    rank holds all rows in dataset order (W ranks simulated)."""
    rows = torch.arange(total * 2.).view(total, 2)
    shards = [rows[list(shard_indices(total, r, world))]
              for r in range(world)]
    assert sorted(i for r in range(world)
                  for i in shard_indices(total, r, world)) == list(
                      range(total))

    def all_gather(padded):  # what each rank pads and sends
        sent = [padded.new_zeros(padded.shape) for _ in shards]
        for out, shard in zip(sent, shards):
            out[:len(shard)] = shard
        return sent

    monkeypatch.setattr(features, 'get_world_size', lambda: world)
    monkeypatch.setattr(features, 'all_gather', all_gather)
    for shard in shards:
        torch.testing.assert_close(gather_shards(shard, total), rows)


def test_pooling_follows_the_output():
    tokens = torch.arange(24.).view(1, 4, 6)  # cls + 3 patch tokens
    torch.testing.assert_close(pool_features((tokens, ), 'auto', 1),
                               tokens[:, 0])
    torch.testing.assert_close(pool_features(tokens, 'avg', 1),
                               tokens[:, 1:].mean(1))
    torch.testing.assert_close(pool_features(tokens, 'auto', 0),
                               tokens.mean(1))
    maps = torch.randn(2, 5, 3, 3)
    torch.testing.assert_close(pool_features([maps], 'auto', 0),
                               maps.mean((2, 3)))
    pooled = torch.randn(2, 5)
    assert pool_features(pooled) is pooled
    for bad, pool, extra in ((pooled, 'cls', 1), (maps, 'cls', 0),
                             (tokens, 'cls', 0)):
        with pytest.raises(ValueError, match='Cannot pool'):
            pool_features(bad, pool, extra)


def test_mae_backbone_is_evaluated_unmasked():
    """MAEViT masks 75% at random even in eval mode; forward_backbone
    gives all tokens, the same twice."""
    backbone = MAEViT(arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                                feedforward_channels=64), img_size=64)
    backbone.init_weights()
    backbone.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert backbone(x)[0].shape == (2, 1 + 4, 32)  # 16 patches, 4 kept
        first = forward_backbone(backbone, x)
        assert first[-1].shape == (2, 1 + 16, 32)
        torch.testing.assert_close(forward_backbone(backbone, x)[-1],
                                   first[-1])


def test_input_size_and_normalisation_from_the_config():
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(TINY_CIM)
    backbone = build_backbone(cfg)
    assert backbone_input_size(cfg, backbone) == 224  # CIMViT's img_size
    resnet_cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='ResizeEdge', scale=219), dict(type='CenterCrop',
                                                 crop_size=192)]))))
    assert backbone_input_size(resnet_cfg, ResNet(18)) == 192
    assert backbone_input_size(Config(), ResNet(18)) == 224

    normaliser = build_normaliser(cfg)
    bgr = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    torch.testing.assert_close(
        normaliser(dict(inputs=bgr), False)['inputs'],
        (bgr.flip(1).float() - mean) / std)


def test_checkpoint_loading(tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(TINY_CIM)
    model = MODELS.build(cfg.model)
    own = model.backbone.state_dict()
    runner_like = tmp_path / 'iter_2.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=2)),
               runner_like)
    backbone = build_backbone(cfg)
    report = load_backbone_weights(backbone, str(runner_like))
    assert report == dict(loaded=len(own), missing=[], unexpected=[])
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, own[key])

    partial = tmp_path / 'partial.pth'  # a converted backbone, no prefix
    torch.save({k: v for k, v in own.items() if k != 'ln1.weight'}, partial)
    report = load_backbone_weights(build_backbone(cfg), str(partial))
    assert report['missing'] == ['ln1.weight']

    unrelated = tmp_path / 'resnet.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in ResNet(
        18).state_dict().items()}), unrelated)
    with pytest.raises(ValueError, match='none of its keys is a key of the '
                       "config's CIMViT"):
        load_backbone_weights(backbone, str(unrelated))
    with pytest.raises(FileNotFoundError, match='Checkpoint file not found'):
        load_backbone_weights(backbone, str(tmp_path / 'missing.pth'))


def test_mae_checkpoint_loads_into_its_backbone(tmp_path):
    """An mmpretrain MAE runner checkpoint (backbone.*, neck.*): every
    MAEViT key loads, the decoder's are ignored."""
    cfg = Config.fromstring(
        "_base_ = ['mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_"
        "in1k.py']\nmodel = dict(backbone=dict(arch=dict(_delete_=True, "
        'embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),'
        ' img_size=32), neck=dict(embed_dim=32, decoder_embed_dim=32, '
        'decoder_depth=1, decoder_num_heads=2))', '.py')
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    path = tmp_path / 'mae_epoch_1.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    backbone = build_backbone(cfg)
    assert isinstance(backbone, MAEViT)
    report = load_backbone_weights(backbone, str(path))
    assert report == dict(loaded=len(model.backbone.state_dict()),
                          missing=[], unexpected=[])
    assert backbone_input_size(cfg, backbone) == 32


# ---------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------
def test_end_to_end_with_and_without_a_checkpoint(knn_folders, tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(TINY_CIM)
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = tmp_path / 'cim.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    kwargs = dict(input_size=32, batch_size=4, num_workers=0, progress=False)
    with_ckpt = run_knn_eval(cfg, str(checkpoint), *knn_folders, **kwargs)
    torch.manual_seed(0)
    random_init = run_knn_eval(cfg, None, *knn_folders, **kwargs)
    for result in (with_ckpt, random_init):
        assert 0 <= result['top1'] <= 100 and result['top5'] == 100
        assert (result['num_train'], result['num_val'],
                result['num_classes']) == (12, 6, 3)
        assert (result['k'], result['feature_dim'],
                result['input_size']) == (12, 128, 32)
    assert with_ckpt['load']['loaded'] == len(model.backbone.state_dict())
    assert random_init['load'] is None


def test_val_classes_must_be_training_classes(knn_folders, tmp_path):
    train, val = knn_folders
    odd = tmp_path / 'val' / 'rocket'
    odd.mkdir(parents=True)
    cv2.imwrite(str(odd / '0.png'), skimage.data.rocket())
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(TINY_CIM)
    with pytest.raises(ValueError, match=r"has not: \['rocket'\]"):
        run_knn_eval(cfg, None, train, str(tmp_path / 'val'), input_size=32,
                     num_workers=0, progress=False)
    with pytest.raises(FileNotFoundError, match='Image folder not found'):
        run_knn_eval(cfg, None, train, str(tmp_path / 'nowhere'),
                     input_size=32, num_workers=0, progress=False)
