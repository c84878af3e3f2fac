"""cim_mm.evaluation.robustness.attacks and pixel_space: FGSM's closed form
on a linear model, PGD's special cases, the budget, and the pixel-space
classifier against mmpretrain's own preprocess-then-predict path."""
import pytest
import torch
from torch import nn

from cim_mm.evaluation.robustness import (PixelSpaceClassifier, fgsm,
                                          input_gradient, pgd)
from mmpretrain.registry import MODELS


def linear_two_class(seed=0, pixels=2 * 3 * 4):
    """Small weights: logits O(1) on 0-255 pixels, so that the softmax does
    not round to exactly 0/1 (which would zero part of the gradient)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 2))
    with torch.no_grad():
        model[1].weight.mul_(0.01)
    return model


def mid_range_pixels(n=5, seed=1):
    """Far from 0 and 255, so that no clipping interferes."""
    return 100 + 50 * torch.rand(n, 2, 3, 4,
                                 generator=torch.Generator().manual_seed(seed))


def test_fgsm_closed_form_on_a_linear_two_class_model():
    # CE of class y under logits Wx + b: grad_x = p_other (W_other - W_y),
    # so FGSM adds eps * sign(W_other - W_y).
    model = linear_two_class()
    weight = model[1].weight.detach()
    x = mid_range_pixels()
    y = torch.tensor([0, 1, 0, 1, 1])
    eps = 2.
    probs = model(x).softmax(1)
    assert ((probs > 0.01) & (probs < 0.99)).all()
    delta = fgsm(model, x, y, eps) - x
    for i, label in enumerate(y.tolist()):
        expected = eps * torch.sign(weight[1 - label] - weight[label])
        assert torch.allclose(delta[i].flatten(), expected, atol=1e-5)


def test_pgd_one_step_of_size_epsilon_without_random_start_is_fgsm():
    model = linear_two_class(seed=3)
    x, y = mid_range_pixels(seed=4), torch.tensor([1, 0, 0, 1, 0])
    assert torch.equal(
        pgd(model, x, y, 3., step_size=3., steps=1, random_start=False),
        fgsm(model, x, y, 3.))


def test_epsilon_zero_changes_nothing():
    model = linear_two_class()
    x, y = mid_range_pixels(), torch.tensor([0, 1, 0, 1, 1])
    assert torch.equal(fgsm(model, x, y, 0.), x)
    assert torch.equal(pgd(model, x, y, 0., 0.5, 5, random_start=True), x)


def test_pgd_stays_in_the_ball_and_the_pixel_range():
    model = linear_two_class(seed=5)
    x = torch.rand(4, 2, 3, 4) * 255  # near the range's ends too
    x[0] = 0
    x[1] = 255
    y = torch.tensor([0, 1, 1, 0])
    adv = pgd(model, x, y, 8., 3., 7, random_start=True)
    assert (adv - x).abs().max() <= 8 + 1e-4
    assert adv.min() >= 0 and adv.max() <= 255
    # A given random start is used as given.
    noise = torch.ones_like(x)
    start = pgd(model, x, y, 8., 3., 0, random_start=True, noise=noise)
    assert torch.equal(start, (x + 8).clamp(0, 255))


def test_pgd_raises_the_loss_more_than_fgsm_on_a_nonlinear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(24, 16), nn.Tanh(),
                          nn.Linear(16, 3))
    x, y = mid_range_pixels(8), torch.randint(0, 3, (8, ))
    loss = nn.CrossEntropyLoss(reduction='sum')
    clean = loss(model(x), y)
    assert loss(model(fgsm(model, x, y, 4.)), y) > clean
    assert loss(model(pgd(model, x, y, 4., 1., 10, random_start=False)),
                y) >= loss(model(fgsm(model, x, y, 4.)), y) - 1e-4


def test_input_gradient_does_not_depend_on_the_batch():
    model = linear_two_class()
    x, y = mid_range_pixels(), torch.tensor([0, 1, 0, 1, 1])
    whole = input_gradient(model, x, y)
    assert torch.allclose(input_gradient(model, x[:2], y[:2]), whole[:2])


@pytest.fixture
def classifier():
    model = MODELS.build(
        dict(type='ImageClassifier',
             data_preprocessor=dict(type='ClsDataPreprocessor',
                                    mean=[123.675, 116.28, 103.53],
                                    std=[58.395, 57.12, 57.375],
                                    to_rgb=True),
             backbone=dict(type='ResNet', depth=18, base_channels=8,
                           stem_channels=8),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    model.init_weights()
    return model.eval()


def test_pixel_space_matches_the_models_own_path(classifier):
    images = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
              for _ in range(3)]
    wrapped = PixelSpaceClassifier(classifier)
    pixels = wrapped.pixels(images)
    # BGR (as loaded) -> RGB, float, 0-255: the attack's pixel values
    assert torch.equal(pixels[1], images[1].flip(0).float())
    with torch.no_grad():
        ours = wrapped(pixels)
        data = classifier.data_preprocessor(dict(inputs=images), False)
        theirs = classifier(data['inputs'], mode='tensor')
        scores = torch.stack([
            s.pred_score for s in classifier.test_step(dict(inputs=images))
        ])
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(ours.softmax(1), scores, atol=1e-5)
    # differentiable w.r.t. the pixels
    grad = input_gradient(wrapped, pixels, torch.tensor([0, 1, 2]))
    assert grad.shape == pixels.shape and grad.abs().sum() > 0


def test_pixel_space_without_normalisation_pads_as_the_model_does():
    """mean/std not given (no buffers), BGR kept, a pad to 32 px: the
    wrapper's steps are the preprocessor's public configuration."""
    model = MODELS.build(
        dict(type='ImageClassifier',
             data_preprocessor=dict(type='ClsDataPreprocessor',
                                    pad_size_divisor=32, pad_value=7),
             backbone=dict(type='ResNet', depth=18, base_channels=8,
                           stem_channels=8),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    model.init_weights()
    model.eval()
    images = [torch.randint(0, 256, (3, 30, 30), dtype=torch.uint8)
              for _ in range(2)]
    wrapped = PixelSpaceClassifier(model)
    assert not wrapped.normalize and not wrapped.to_rgb
    pixels = wrapped.pixels(images)
    assert torch.equal(pixels[0], images[0].float())
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=images), False)
        assert data['inputs'].shape[-2:] == (32, 32)
        theirs = model(data['inputs'], mode='tensor')
        assert torch.allclose(wrapped(pixels), theirs, atol=1e-5)


def test_pixel_space_needs_a_cls_data_preprocessor():
    with pytest.raises(TypeError, match='ClsDataPreprocessor'):
        PixelSpaceClassifier(nn.Linear(2, 2))
    with pytest.raises(ValueError, match='differ in size'):
        PixelSpaceClassifier.pixels(
            type('P', (), dict(device=torch.device('cpu'), to_rgb=False))(),
            [torch.zeros(3, 4, 4), torch.zeros(3, 5, 5)])
