"""Tests of `keras_softplus.ops.negative_binomial`: split, NLL, CRPS."""

import numpy as np
import pytest
import scoringrules
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.ops.negative_binomial import negative_binomial_crps
from keras_softplus.ops.negative_binomial import negative_binomial_nll
from keras_softplus.ops.negative_binomial import negative_binomial_variance

tfd = tfp.distributions


def cases():
    mean = np.array([1e-7, 1.0, 2.5, 1e4, 1e4, 3.0, 100.0, 5.0, 2.0])
    total_count = np.array([1.0, 1e-7, 2.0, 1e8, 3.0, 1e4, 0.5, 1.2e-7, 1e8])
    counts = np.array([0.0, 0.0, 3.0, 1e4, 9000.0, 50.0, 0.0, 7.0, 1e4])
    return counts, np.stack([mean, total_count], axis=1)


def reference(counts, y_pred):
    mean, total_count = y_pred[:, 0], y_pred[:, 1]
    logits = np.log(mean) - np.log(total_count)
    return -tfd.NegativeBinomial(total_count, logits=logits).log_prob(counts).numpy()


def test_nll_equals_minus_tfp_log_prob_within_2e_4_in_float32():
    counts, y_pred = cases()
    exact = reference(counts, y_pred)  # float64
    got = negative_binomial_nll(
        counts[:, None].astype("float32"), y_pred.astype("float32")
    ).numpy()
    np.testing.assert_allclose(got, exact, rtol=2e-4, atol=1e-9)
    got64 = negative_binomial_nll(counts[:, None], y_pred).numpy()
    np.testing.assert_allclose(got64, exact, rtol=1e-11)


def test_large_total_count_tends_to_the_poisson():
    counts = np.array([0.0, 3.0, 40.0])
    y_pred = np.stack([np.full(3, 30.0), np.full(3, 1e12)], axis=1)
    poisson = -tfd.Poisson(np.float64(30.0)).log_prob(counts).numpy()
    np.testing.assert_allclose(
        negative_binomial_nll(counts[:, None], y_pred), poisson, rtol=1e-9
    )


def test_variance_and_gradients_are_finite_at_the_extremes():
    counts, y_pred = cases()
    np.testing.assert_allclose(
        negative_binomial_variance(y_pred)[:, 0],
        y_pred[:, 0] + y_pred[:, 0] ** 2 / y_pred[:, 1],
    )
    variable = tf.Variable(y_pred.astype("float32"))
    with tf.GradientTape() as tape:
        nll = negative_binomial_nll(counts[:, None].astype("float32"), variable)
    assert np.all(np.isfinite(tape.gradient(nll, variable).numpy()))


@pytest.mark.parametrize("bad", [-2.0, 0.5], ids=["negative", "fractional"])
def test_counts_outside_the_support_raise_eagerly(bad):
    with pytest.raises(ValueError, match=r"`y_true` must be a non-negative integer"):
        negative_binomial_nll(np.array([[bad]]), np.array([[1.0, 1.0]]))


def test_crps_matches_scoringrules():
    mean = np.array([0.5, 2.0, 10.0, 40.0, 100.0])
    total_count = np.array([1.0, 3.0, 0.5, 10.0, 50.0])
    counts = np.array([0.0, 2.0, 15.0, 30.0, 2000.0])
    y_pred = np.stack([mean, total_count], axis=1)
    expected = scoringrules.crps_negbinom(counts, total_count, mu=mean)
    got = negative_binomial_crps(counts[:, None], y_pred, support_size=1500)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-8)
