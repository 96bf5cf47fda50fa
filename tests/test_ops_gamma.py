"""Tests of `keras_softplus.ops.gamma`: log-gamma, deviance, Gamma NLL."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.ops.gamma import gamma_mean
from keras_softplus.ops.gamma import gamma_nll

tfd = tfp.distributions


def gamma_cases():
    concentration = np.array([0.5, 1.0, 3.0, 1e4, 2.0, 1.2e-7, 50.0, 1e4])
    rate = np.array([1.0, 2.0, 0.5, 1e4, 3.0, 1.0, 1e-6, 1e-4])
    y = np.array([1e-8, 1.0, 3.0, 1.01, 1e8, 0.3, 1e8, 1e8])
    return y, np.stack([concentration, rate], axis=1)


def test_nll_equals_minus_tfp_log_prob_within_2e_4_in_float32():
    y, y_pred = gamma_cases()
    exact = -tfd.Gamma(y_pred[:, 0], y_pred[:, 1]).log_prob(y).numpy()
    got = gamma_nll(y[:, None].astype("float32"), y_pred.astype("float32")).numpy()
    np.testing.assert_allclose(got, exact, rtol=2e-4, atol=1e-6)
    got64 = gamma_nll(y[:, None], y_pred).numpy()
    np.testing.assert_allclose(got64, exact, rtol=1e-11)


def test_nll_gradients_are_finite_at_extreme_targets_and_parameters():
    y, y_pred = gamma_cases()
    y_pred = tf.Variable(y_pred.astype("float32"))
    with tf.GradientTape() as tape:
        nll = gamma_nll(y[:, None].astype("float32"), y_pred)
    gradient = tape.gradient(nll, y_pred).numpy()
    assert np.all(np.isfinite(nll.numpy())) and np.all(np.isfinite(gradient))


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_targets_raise_eagerly(bad):
    with pytest.raises(ValueError, match=r"`y_true` must be > 0.*Received: y_true"):
        gamma_nll(np.array([[1.0], [bad]]), np.ones((2, 2)))


def test_non_positive_targets_give_nan_inside_a_compiled_function():
    compiled = tf.function(gamma_nll, jit_compile=True)
    got = compiled(tf.constant([[1.0], [-1.0]]), tf.ones((2, 2))).numpy()
    assert np.isfinite(got[0]) and np.isnan(got[1])


def test_mean_is_concentration_over_rate():
    _, y_pred = gamma_cases()
    np.testing.assert_allclose(
        gamma_mean(y_pred).numpy()[:, 0], y_pred[:, 0] / y_pred[:, 1]
    )
