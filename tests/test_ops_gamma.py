"""Tests of `keras_softplus.ops.gamma`: log-gamma, deviance, Gamma NLL."""

import mpmath
import numpy as np
import pytest
import scipy.special
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.ops.gamma import gamma_mean
from keras_softplus.ops.gamma import gamma_nll
from keras_softplus.ops.gamma import log_gamma
from keras_softplus.ops.gamma import saddle_point_deviance

tfd = tfp.distributions


@pytest.mark.parametrize(
    "dtype, tolerance", [("float32", 8e-6), ("float64", 5e-14)], ids=str
)
def test_log_gamma_matches_scipy_from_the_floor_to_1e9(dtype, tolerance):
    x = np.logspace(-7, 9, 801)
    got = log_gamma(x.astype(dtype)).numpy()
    expected = scipy.special.gammaln(x.astype(dtype).astype(np.float64))
    error = np.abs(got - expected) / np.maximum(np.abs(expected), 1.0)
    assert error.max() < tolerance, x[np.argmax(error)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_deviance_is_accurate_near_and_far_from_its_minimum(dtype):
    mpmath.mp.dps = 40
    m = np.array([1.0, 1e4, 1e4, 1e4, 3.0, 1e-7, 5.0, 2.0])
    x = np.array([0.0, 1e4 + 1, 1e4 - 30, 9.0, 3.0, 1e4, 5.0 * (1 + 1e-3), 100.0])
    x, m = x.astype(dtype).astype(np.float64), m.astype(dtype).astype(np.float64)
    expected = [
        float(xi * mpmath.log(mpmath.mpf(xi) / mi) - xi + mi) if xi else mi
        for xi, mi in zip(x, m, strict=True)
    ]
    got = saddle_point_deviance(x.astype(dtype), m.astype(dtype)).numpy()
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=64 * eps, atol=0)


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
