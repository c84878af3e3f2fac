"""The pair synthesis (synthesise_pairs, synthesise_batch) through the data
preprocessor: shapes, flips, torchvision's recipe on the exemplars, the
context augmentation, batch independence, gradients to the backbone.
Map geometry and exemplar content: tests/test_datasets/test_transforms/
test_pair_geometry.py."""
import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import MODELS, TRANSFORMS

import cim_mm  # noqa: F401
from cim_mm.models.utils.pair_synthesis import (sample_exemplars,
                                                 synthesise_pairs)

# Tiny tensor ops: one thread (the machine's other cores may be busy).
pytestmark = pytest.mark.usefixtures('one_torch_thread')

M, N, K = 160, 64, 6
DRAW = dict(type='DrawCorrelationalPair')
PREPROCESSOR = dict(type='CIMDataPreprocessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    to_rgb=True)


def device_batch(samples):
    """Pack, collate and preprocess (on CPU here) like the training loop."""
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    return MODELS.build(PREPROCESSOR)(batch, training=True)


def test_outputs_have_the_documented_shapes_and_types(draw):
    built = device_batch(draw(DRAW, 4))
    context, *exemplars = built['inputs']
    assert context.shape == (4, 3, M, M) and context.dtype == torch.float32
    assert len(exemplars) == K
    assert all(e.shape == (4, 3, N, N) for e in exemplars)
    sample = built['data_samples'][0]
    assert sample.corr_maps.shape == (K, M, M)
    assert sample.corr_maps.dtype == torch.uint8


def test_flip_mirrors_the_exemplar_and_not_the_map(draw):
    settings = dict(DRAW, exemplar_augmentation=None)
    flipped = draw(dict(settings, exemplar_flip_prob=1.0), 2)
    plain = draw(dict(settings, exemplar_flip_prob=0.0), 2)
    a, b = device_batch(flipped), device_batch(plain)
    for ex_a, ex_b in zip(a['inputs'][1:], b['inputs'][1:]):
        assert torch.equal(ex_a, ex_b.flip(-1))
    for s_a, s_b in zip(a['data_samples'], b['data_samples']):
        assert torch.equal(s_a.corr_maps, s_b.corr_maps)


def test_training_step_on_device_pairs_reaches_the_backbone(
        tiny_cim_cfg, draw):
    model = MODELS.build(tiny_cim_cfg(data_preprocessor=PREPROCESSOR))
    model.init_weights()
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([
        pack(dict(s))
        for s in draw(DRAW, 2)
    ])
    data = model.data_preprocessor(batch, training=True)
    loss = model(**data, mode='loss')['loss']
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_device_path_needs_no_particular_meta_keys(draw):
    pack = TRANSFORMS.build(dict(type='PackCIMInputs', meta_keys=()))
    samples = draw(DRAW, 2)
    batch = default_collate([pack(dict(s)) for s in samples])
    built = MODELS.build(PREPROCESSOR)(batch, training=True)
    assert built['inputs'][0].shape == (2, 3, M, M)
    assert built['inputs'][1].shape == (2, 3, N, N)


def test_pair_parameters_travel_as_batch_tensors_and_come_back_per_sample(
        draw):
    """Search samples pack their parameters beside the data sample, so the
    collate function stacks each into one tensor (one copy to the device);
    the preprocessor gives every sample its rows back."""
    dev = draw(dict(DRAW, context_augmentation={}), 3)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    packed = pack(dict(dev[0]))
    assert set(packed['pair_params']) == {
        'exemplar_corners', 'exemplar_flipped', 'exemplar_augmentation',
        'context_augmentation'}
    assert 'exemplar_corners' not in packed['data_samples']
    batch = default_collate([pack(dict(s)) for s in dev])
    params = batch['pair_params']
    assert params['exemplar_corners'].shape == (3, K, 4, 2)
    assert params['exemplar_flipped'].shape == (3, K)
    built = MODELS.build(PREPROCESSOR)(batch, training=True)
    for i, sample in enumerate(built['data_samples']):
        for key, value in params.items():
            assert torch.equal(sample.get(key), value[i]), key
        assert torch.equal(sample.exemplar_corners,
                           torch.from_numpy(dev[i]['exemplar_corners']))


def test_synthesise_pairs_gives_each_sample_the_same_pair_in_any_batch(
        draw):
    """A sample's context, exemplars and maps do not depend on the samples
    it is batched with: the same function may build a whole batch (the
    preprocessor) or a worker's part of it."""
    samples = draw(dict(DRAW, context_augmentation={}), 4)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    params = batch['pair_params']

    def build(rows):
        return synthesise_pairs(
            batch['inputs'][0][rows], params['exemplar_corners'][rows], M, N,
            exemplar_augmentation=params['exemplar_augmentation'][rows],
            context_augmentation=params['context_augmentation'][rows])

    whole = build(slice(0, 4))
    halves = [build(slice(0, 2)), build(slice(2, 4))]
    assert [tuple(x.shape) for x in whole] == [(4, 3, M, M),
                                               (4, K, 3, N, N),
                                               (4, K, M, M)]
    assert whole[2].dtype == torch.uint8
    for part, parts in zip(whole, zip(*halves)):
        assert torch.equal(part, torch.cat(parts))


def test_exemplars_are_the_same_resampled_in_any_number_of_calls(draw):
    """The CPU resamples a few images per call, a GPU the whole batch: the
    same values."""
    samples = draw(DRAW, 5)
    search = torch.stack([torch.from_numpy(s['search']) for s in samples])
    search = search.permute(0, 3, 1, 2).float()
    corners = torch.stack(
        [torch.from_numpy(s['exemplar_corners']) for s in samples])
    whole = sample_exemplars(search, corners, M, N, images_per_call=5)
    assert whole.shape == (5, K, 3, N, N)
    for images_per_call in (None, 1, 3):
        assert torch.equal(
            sample_exemplars(search, corners, M, N,
                             images_per_call=images_per_call), whole)
    with pytest.raises(ValueError, match='images_per_call must be >= 1'):
        sample_exemplars(search, corners, M, N, images_per_call=0)


def torchvision_recipe(rgb: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """One exemplar's augmentation by torchvision's own functions, on the
    [0, 1] float image, in the release's order; back to [0, 255]."""
    import torchvision.transforms.v2.functional as tvf
    from cim_mm.datasets.transforms import exemplar_photometric_params as pp
    x = rgb / 255
    if p[pp.JITTER]:
        ops = (tvf.adjust_brightness, tvf.adjust_contrast,
               tvf.adjust_saturation, tvf.adjust_hue)
        for op in p[pp.ORDER].long().tolist():
            x = ops[op](x, p[pp.BRIGHTNESS + op].item())
    if p[pp.GRAY]:
        x = tvf.rgb_to_grayscale(x, num_output_channels=3)
    if p[pp.BLUR]:
        sigma = p[pp.BLUR_SIGMA].item()
        x = tvf.gaussian_blur(x, [13, 13], [sigma, sigma])
    if p[pp.SOLARIZE]:
        x = tvf.solarize(x, 128 / 255)
    if p[pp.FLIP]:
        x = tvf.horizontal_flip(x)
    return x * 255


def test_batched_exemplars_are_torchvision_on_the_resampled_crops(draw):
    """Each exemplar of a batch is torchvision's recipe, with its drawn
    parameters, applied to its RGB crop (channel order, operation order,
    flip after the augmentation), rounded once."""
    samples = draw(dict(type='DrawCorrelationalPair'), 8)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    params = batch['pair_params']
    search = batch['inputs'][0]
    _, exemplars, maps = synthesise_pairs(
        search, params['exemplar_corners'], M, N,
        exemplar_augmentation=params['exemplar_augmentation'])
    _, crops, plain_maps = synthesise_pairs(search, params['exemplar_corners'],
                                            M, N)
    assert torch.equal(maps, plain_maps)
    drawn = params['exemplar_augmentation'].flatten(0, 1)
    exemplars, crops = exemplars.flatten(0, 1), crops.flatten(0, 1)
    assert exemplars.shape == (8 * K, 3, N, N)
    assert torch.equal(exemplars, exemplars.round().clamp(0, 255))
    changed = 0
    for i in range(len(drawn)):
        ref = torchvision_recipe(crops[i].flip(0), drawn[i]).round().flip(0)
        diff = (exemplars[i] - ref).abs()
        # float32 rounding of the same arithmetic: a value within a unit
        # in the last place of .5 may round the other way.
        assert diff.max() <= 1, (i, drawn[i], diff.max())
        assert (diff > 0).float().mean() < 0.01
        changed += not torch.equal(exemplars[i], crops[i])
    assert changed > len(drawn) // 2  # the release's recipe changes most


def test_context_augmentation_changes_the_context_only(draw):
    samples = draw(dict(type='DrawCorrelationalPair', exemplar_augmentation=None,
                        context_augmentation=dict(jitter_prob=1.,
                                                  gray_prob=0.)), 4)
    pack = TRANSFORMS.build(dict(type='PackCIMInputs'))
    batch = default_collate([pack(dict(s)) for s in samples])
    params = batch['pair_params']
    args = (batch['inputs'][0], params['exemplar_corners'], M, N)
    context, exemplars, maps = synthesise_pairs(
        *args, exemplar_augmentation=params['exemplar_augmentation'],
        context_augmentation=params['context_augmentation'])
    plain_context, plain_exemplars, plain_maps = synthesise_pairs(*args)
    assert torch.equal(maps, plain_maps)
    flips = params['exemplar_flipped'][..., None, None, None]
    assert torch.equal(exemplars, torch.where(flips, plain_exemplars.flip(-1),
                                              plain_exemplars))
    for i in range(4):
        ref = torchvision_recipe(plain_context[i].flip(0),
                                 params['context_augmentation'][i])
        assert (context[i] - ref.round().flip(0)).abs().max() <= 1
        assert (context[i] - plain_context[i]).abs().max() > 5
