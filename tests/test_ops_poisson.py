"""Tests of `keras_softplus.ops.poisson`: split, NLL, CRPS."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
import scoringrules
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.ops.poisson import poisson_crps
from keras_softplus.ops.poisson import poisson_nll

tfd = tfp.distributions


def cases():
    rate = np.array([1e-7, 1.0, 2.5, 1e4, 1e4, 3.0, 100.0, 0.2])
    counts = np.array([0.0, 0.0, 3.0, 1e4, 9000.0, 50.0, 0.0, 1e4])
    return counts, rate


def test_nll_equals_minus_tfp_log_prob_within_2e_4_in_float32():
    counts, rate = cases()
    exact = -tfd.Poisson(rate).log_prob(counts).numpy()  # float64
    got = poisson_nll(
        counts[:, None].astype("float32"), rate[:, None].astype("float32")
    )
    np.testing.assert_allclose(got.numpy(), exact, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(
        poisson_nll(counts[:, None], rate[:, None]), exact, rtol=1e-11
    )


def test_sums_over_units_and_accepts_targets_without_the_unit_axis():
    counts = np.array([[1.0, 4.0]])
    rate = np.array([[2.0, 3.0]])
    two = np.float64(2.0)
    expected = -tfd.Poisson(rate).log_prob(counts).numpy().sum(-1)
    np.testing.assert_allclose(poisson_nll(counts, rate), expected, rtol=1e-12)
    np.testing.assert_allclose(
        poisson_nll(np.array([1.0]), np.array([[2.0]])),
        -tfd.Poisson(two).log_prob(1.0).numpy()[None],
        rtol=1e-12,
    )


def test_gradients_are_finite_for_counts_of_1e4_and_rates_at_the_floor():
    counts, rate = cases()
    rate = tf.Variable(rate[:, None].astype("float32"))
    with tf.GradientTape() as tape:
        nll = poisson_nll(counts[:, None].astype("float32"), rate)
    gradient = tape.gradient(nll, rate).numpy()[:, 0]
    assert np.all(np.isfinite(gradient))
    # d/d rate = 1 - y/rate, in float64
    np.testing.assert_allclose(gradient[1:], 1 - counts[1:] / cases()[1][1:], rtol=1e-4)


@pytest.mark.parametrize("bad", [-1.0, 1.5], ids=["negative", "fractional"])
def test_counts_outside_the_support_raise_eagerly(bad):
    with pytest.raises(ValueError, match="`y_true` must be a non-negative integer"):
        poisson_nll(np.array([[bad]]), np.array([[1.0]]))


def test_negative_counts_give_nan_inside_a_compiled_function():
    got = tf.function(poisson_nll)(tf.constant([[2.0], [-1.0]]), tf.ones((2, 1)))
    assert np.isfinite(got[0]) and np.isnan(got[1])


def crps_closed_form(counts, rate):
    """E|X - y| - E|X - X'|/2 with Bessel functions (Wei & Held, 2014), which
    scoringrules evaluates unscaled and so overflows above rates of ~100."""
    below = scipy.stats.poisson.cdf(counts, rate)
    absolute = (counts - rate) * (2 * below - 1) + 2 * rate * scipy.stats.poisson.pmf(
        counts, rate
    )
    spread = rate * (scipy.special.i0e(2 * rate) + scipy.special.i1e(2 * rate))
    return absolute - spread


def test_crps_matches_scoringrules_and_the_closed_form():
    rate = np.array([0.3, 2.0, 10.0, 40.0])
    counts = np.array([0.0, 2.0, 15.0, 30.0])
    expected = scoringrules.crps_poisson(counts, rate)
    np.testing.assert_allclose(crps_closed_form(counts, rate), expected, rtol=1e-10)
    got = poisson_crps(counts[:, None], rate[:, None]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    rate = np.append(rate, [300.0, 5.0])
    counts = np.append(counts, [320.0, 1500.0])  # the last beyond the support
    got32 = poisson_crps(
        counts[:, None].astype("float32"), rate[:, None].astype("float32")
    )
    np.testing.assert_allclose(got32, crps_closed_form(counts, rate), rtol=1e-4)
