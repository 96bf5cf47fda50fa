"""Tests of `keras_softplus.ops.special`: log-gamma, the saddle-point
deviance, the incomplete beta and the Normal CRPS, against mpmath and
scipy."""

import mpmath
import numpy as np
import pytest
import scipy.special
import tensorflow as tf

from keras_softplus.ops.special import incomplete_beta_half
from keras_softplus.ops.special import log_gamma
from keras_softplus.ops.special import normal_crps
from keras_softplus.ops.special import saddle_point_deviance

TOLERANCES = {"float32": 3e-5, "float64": 1e-9}


def gradients(function, *args, dtype):
    """The value and the gradients of `function(*args)` in `dtype`."""
    tensors = [tf.constant(arg, dtype) for arg in args]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        value = function(*tensors)
    return value.numpy(), [g.numpy() for g in tape.gradient(value, tensors)]


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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "x, m",
    [
        pytest.param(1.0, 1e-21, id="tiny_m"),
        pytest.param(1.0, 1e-25, id="tinier_m"),
        pytest.param(1e6, 1e-3, id="far_above"),
        pytest.param(1.0, 1.0 + 1e-3, id="near"),
        pytest.param(0.0, 2.0, id="zero_x"),
    ],
)
def test_deviance_gradients_are_finite_and_exact(dtype, x, m):
    # d/dm of x*log(x/m) - x + m is 1 - x/m; d/dx is log(x/m).
    _, (d_x, d_m) = gradients(saddle_point_deviance, x, m, dtype=dtype)
    m_rounded = float(np.asarray(m, dtype))
    expected_m = 1.0 - x / m_rounded
    eps = np.finfo(dtype).eps
    assert abs(d_m - expected_m) <= 64 * eps * (1 + abs(expected_m))
    if x > 0:
        expected_x = float(mpmath.log(mpmath.mpf(x) / m_rounded))
        np.testing.assert_allclose(d_x, expected_x, rtol=1e-5, atol=1e-6)


def test_deviance_takes_log_m_when_the_product_underflows():
    # m = 1e-30 * 1e-9 underflows in float32; log(m) given as a sum of logs.
    log_m = np.float32(np.log(1e-30) + np.log(1e-9))
    got = saddle_point_deviance(np.float32(2.0), np.float32(0.0), log_m=log_m)
    expected = 2.0 * (np.log(2.0) - (np.log(1e-30) + np.log(1e-9))) - 2.0
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_incomplete_beta_matches_scipy(dtype):
    t = np.array([1e-4, 0.1, 0.5, 1.0, 3.0, 30.0, 1e3])[:, None]
    b = np.array([1.0, 1.25, 2.5, 15.0, 500.0])[None, :]
    x = t**2 / (1 + t**2)
    expected = scipy.special.betainc(0.5, b, x)
    got = incomplete_beta_half(
        tf.constant(np.broadcast_to(t, (7, 5)), dtype),
        tf.constant(np.broadcast_to(b, (7, 5)), dtype),
    ).numpy()
    np.testing.assert_allclose(
        got,
        expected,
        rtol=100 * TOLERANCES[dtype],
        atol=1e-6 if dtype == "float32" else 1e-12,
    )


def mpmath_normal_crps(error, scale):
    z = mpmath.mpf(error) / scale
    return scale * (
        z * mpmath.erf(z / mpmath.sqrt(2))
        + 2 * mpmath.npdf(z)
        - 1 / mpmath.sqrt(mpmath.pi)
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "error, scale",
    [
        pytest.param(0.0, 1.0, id="centre"),
        pytest.param(1.5, 1.0, id="one_and_a_half_scales"),
        pytest.param(-7.0, 1.0, id="near_the_tail_switch"),
        pytest.param(1.0, 1.2e-7, id="float32_floor"),
        pytest.param(1e4, 1e-3, id="far_outlier"),
        pytest.param(1.0, 1e-30, id="scale_1e-30"),
    ],
)
def test_normal_crps_and_its_gradients_match_mpmath(dtype, error, scale):
    mpmath.mp.dps = 40
    value, (d_error, d_scale) = gradients(normal_crps, error, scale, dtype=dtype)
    scale = float(np.asarray(scale, dtype))
    tolerance = TOLERANCES[dtype]
    expected = mpmath_normal_crps(error, mpmath.mpf(scale))
    expected_d_error = mpmath.diff(
        lambda e: mpmath_normal_crps(e, mpmath.mpf(scale)), error
    )
    expected_d_scale = mpmath.diff(
        lambda s: mpmath_normal_crps(error, s), mpmath.mpf(scale)
    )
    for got, want in [
        (value, expected),
        (d_error, expected_d_error),
        (d_scale, expected_d_scale),
    ]:
        assert np.isfinite(got)
        assert abs(got - float(want)) <= 4 * tolerance * (1 + abs(float(want)))
