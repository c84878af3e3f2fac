"""The worker-side draw of the exemplar photometric parameters: the
release's probabilities and ranges, the layout, determinism."""
import itertools

import numpy as np
import pytest

from cim_mm.datasets.transforms import exemplar_photometric_params as pp

NUM = 20000


@pytest.fixture(scope='module')
def draws():
    return pp.draw_exemplar_photometric(np.random.default_rng(0), NUM)


def test_shape_dtype_and_determinism(draws):
    assert draws.shape == (NUM, pp.EXEMPLAR_PARAM_DIM)
    assert draws.dtype == np.float32
    again = pp.draw_exemplar_photometric(np.random.default_rng(0), NUM)
    assert np.array_equal(draws, again)
    other = pp.draw_exemplar_photometric(np.random.default_rng(1), NUM)
    assert not np.array_equal(draws, other)
    assert pp.draw_exemplar_photometric(np.random.default_rng(0),
                                        0).shape == (0, 14)


def test_flags_are_binary_and_have_the_release_probabilities(draws):
    for column, prob in ((pp.JITTER, 0.8), (pp.GRAY, 0.2), (pp.BLUR, 0.5),
                         (pp.SOLARIZE, 0.2)):
        flags = draws[:, column]
        assert set(np.unique(flags)) == {0., 1.}
        stderr = np.sqrt(prob * (1 - prob) / NUM)
        assert abs(flags.mean() - prob) < 4 * stderr, (column, flags.mean())


def test_flags_are_independent(draws):
    """Joint frequencies of pairs of flags are the products."""
    columns = (pp.JITTER, pp.GRAY, pp.BLUR, pp.SOLARIZE)
    for a, b in itertools.combinations(columns, 2):
        pa, pb = draws[:, a].mean(), draws[:, b].mean()
        joint = (draws[:, a] * draws[:, b]).mean()
        stderr = np.sqrt(pa * pb * (1 - pa * pb) / NUM)
        assert abs(joint - pa * pb) < 4 * stderr, (a, b)


def _assert_uniform(values, low, high):
    assert values.min() >= np.float32(low)
    assert values.max() <= np.float32(high)
    counts, _ = np.histogram(values, bins=10, range=(low, high))
    expected = len(values) / 10
    # Each bin within 5 standard errors of a binomial count.
    assert np.all(np.abs(counts - expected) < 5 *
                  np.sqrt(expected * 0.9)), counts


def test_factors_and_sigma_in_ranges_and_uniform(draws):
    jitter = draws[:, pp.JITTER] == 1
    for column, (low, high) in ((pp.BRIGHTNESS, (0.6, 1.4)), (pp.CONTRAST,
                                                              (0.6, 1.4)),
                                (pp.SATURATION, (0.8, 1.2)), (pp.HUE, (-0.1,
                                                                       0.1))):
        _assert_uniform(draws[jitter, column], low, high)
    blur = draws[:, pp.BLUR] == 1
    _assert_uniform(draws[blur, pp.BLUR_SIGMA], 0.1, 2.0)


def test_operations_not_run_carry_neutral_values(draws):
    off = draws[:, pp.JITTER] == 0
    assert np.array_equal(draws[off][:, pp.ORDER],
                          np.tile(np.arange(4.), (off.sum(), 1)))
    assert np.array_equal(
        draws[off][:, [pp.BRIGHTNESS, pp.CONTRAST, pp.SATURATION, pp.HUE]],
        np.tile([1., 1., 1., 0.], (off.sum(), 1)))
    assert np.all(draws[draws[:, pp.BLUR] == 0, pp.BLUR_SIGMA] == 0)


def test_orders_are_uniform_permutations(draws):
    orders = draws[draws[:, pp.JITTER] == 1][:, pp.ORDER].astype(int)
    assert np.all(np.sort(orders, 1) == np.arange(4))
    keys, counts = np.unique(orders, axis=0, return_counts=True)
    assert len(keys) == 24
    expected = len(orders) / 24
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts


def test_arguments_change_the_recipe():
    rng = np.random.default_rng(0)
    params = pp.draw_exemplar_photometric(rng,
                                          1000,
                                          jitter_prob=1.,
                                          brightness=(1., 1.),
                                          hue=(0., 0.),
                                          gray_prob=0.,
                                          blur_prob=1.,
                                          blur_sigma=(0.5, 0.5),
                                          solarize_prob=0.)
    assert np.all(params[:, pp.JITTER] == 1)
    assert np.all(params[:, pp.BRIGHTNESS] == 1)
    assert np.all(params[:, pp.HUE] == 0)
    assert np.all(params[:, [pp.GRAY, pp.SOLARIZE, pp.FLIP]] == 0)
    assert np.all(params[:, pp.BLUR] == 1)
    assert np.allclose(params[:, pp.BLUR_SIGMA], 0.5)
    with pytest.raises(ValueError, match='hue range'):
        pp.draw_exemplar_photometric(rng, 1, hue=(-0.6, 0.1))
    with pytest.raises(ValueError, match='blur_sigma range'):
        pp.draw_exemplar_photometric(rng, 1, blur_sigma=(0., 2.))
    with pytest.raises(ValueError, match='exemplar_flip_prob'):
        pp.draw_exemplar_photometric(rng, 1, flip_prob=0.5)


def test_no_augmentation_draws_neutral_values():
    params = pp.draw_exemplar_photometric(np.random.default_rng(0), 100,
                                          **pp.NO_AUGMENTATION)
    neutral = np.zeros(pp.EXEMPLAR_PARAM_DIM, np.float32)
    neutral[pp.ORDER] = np.arange(4)
    neutral[[pp.BRIGHTNESS, pp.CONTRAST, pp.SATURATION]] = 1
    assert np.array_equal(params, np.tile(neutral, (100, 1)))
