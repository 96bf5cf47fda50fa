"""Tests of the inverses in `keras_softplus.ops`: `softplus_inverse` and
`softminus_inverse`, against 50-digit mpmath."""

import ml_dtypes
import mpmath_reference as mp_reference
import numpy as np
import pytest
import tensorflow as tf
from input_grids import BETAS

from keras_softplus import ops

HALF_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
ALL_DTYPES = ["float16", "bfloat16", "float32", "float64"]
ULP_TOLERANCE = {"value": 4, "dy": 4, "dbeta": 16}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("beta", BETAS, ids=lambda b: f"beta={b}")
def test_softplus_inverse_matches_mpmath_over_the_whole_range(dtype, beta):
    info = np.finfo(dtype)
    y = np.logspace(np.log10(info.tiny) + 1, np.log10(info.max) - 1, 400).astype(dtype)
    y = y[y.astype(np.float64) < float(info.max) / beta]
    got = ops.softplus_inverse(tf.constant(y), beta).numpy()
    beta_rounded = float(np.asarray(beta, dtype))
    exact = np.array(
        [float(mp_reference.softplus_inverse(float(v), beta_rounded)) for v in y]
    )
    # Relative error away from the root of softplus_inverse (beta*y = log 2),
    # where the function itself is ill-conditioned.
    well_conditioned = np.abs(y * beta - np.log(2)) > 0.1
    relative = np.abs(got - exact) / np.abs(exact)
    assert np.max(relative[well_conditioned]) < 8 * info.eps
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_softplus_inverse_round_trips_and_has_finite_gradients(dtype):
    numpy_dtype = HALF_DTYPES.get(dtype, dtype)
    info = ml_dtypes.finfo(numpy_dtype)
    y = np.logspace(
        np.log10(float(info.tiny)) + 1, np.log10(float(info.max)) - 1, 200
    ).astype(numpy_dtype)
    y_tensor = tf.constant(y, dtype)
    beta = tf.constant(1.5, dtype)
    with tf.GradientTape() as tape:
        tape.watch([y_tensor, beta])
        x = ops.softplus_inverse(y_tensor, beta)
    grad_y, grad_beta = tape.gradient(x, [y_tensor, beta])
    assert np.all(np.isfinite(grad_y.numpy().astype(np.float64)))
    assert np.isfinite(float(grad_beta))
    round_trip = ops.softplus(x, beta).numpy().astype(np.float64)
    # Rounding x to the dtype moves softplus by up to |beta*x|/2 ulp in the
    # exponential tail: the round trip's condition number.
    x_value = x.numpy().astype(np.float64)
    relative_error = np.abs(round_trip / y.astype(np.float64) - 1)
    assert np.all(relative_error <= 4 * float(info.eps) * (1 + np.abs(1.5 * x_value)))


def test_softplus_inverse_gradient_matches_reciprocal_sigmoid():
    y = tf.constant([1e-20, 1e-3, 0.6, 3.0, 40.0, 1e10], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y)
        x = ops.softplus_inverse(y, 2.0)
    grad = tape.gradient(x, y).numpy()
    expected = 1 / (-np.expm1(-2.0 * y.numpy()))
    np.testing.assert_allclose(grad, expected, rtol=1e-12)


def ulp_errors(got, exact, dtype):
    return np.asarray(mp_reference.ulp_errors(got, exact, np.dtype(dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("beta", BETAS, ids=lambda b: f"beta={b}")
def test_softminus_inverse_value_and_gradients_within_ulp_of_mpmath(dtype, beta):
    info = np.finfo(dtype)
    magnitudes = np.logspace(-6, np.log10(3e3), 300)
    y = -(magnitudes / beta).astype(dtype)
    y_tensor = tf.constant(y)
    beta_tensor = tf.constant(beta, dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([y_tensor, beta_tensor])
        x = ops.softminus_inverse(y_tensor, beta_tensor)
        x_sum = tf.reduce_sum(x)
    dy = tape.gradient(x, y_tensor).numpy()
    # d/dbeta per element: the gradient of each element alone.
    dbeta = tape.jacobian(x, beta_tensor).numpy()
    beta_rounded = float(beta_tensor.numpy())
    exact = [
        mp_reference.softminus_inverse_and_partials(float(v), beta_rounded) for v in y
    ]
    # Away from the root (beta*y = -log 2), where the function is
    # ill-conditioned and no formula keeps relative accuracy.
    conditioned = np.abs(-y.astype(np.float64) * beta - np.log(2.0)) > 0.1
    # d/dbeta by autodiff of the formula cancels where it is exponentially
    # small: measured up to 4.5e6 ulp (float32, |beta*y| in 24..35) and
    # worse in float64 beyond |beta*y| = 2.7, as for softplus_inverse. The
    # 16-ulp bound holds below |beta*y| = 2.
    for name, got, index in (
        ("value", x.numpy(), 0),
        ("dy", dy, 1),
        ("dbeta", dbeta, 2),
    ):
        errors = ulp_errors(got, [e[index] for e in exact], dtype)
        checked = conditioned & ((magnitudes < 2.0) if name == "dbeta" else True)
        assert np.max(errors[checked]) <= ULP_TOLERANCE[name], (name, info.dtype)
    del x_sum


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_softminus_inverse_is_minus_softplus_inverse_of_minus_y(dtype):
    numpy_dtype = HALF_DTYPES.get(dtype, dtype)
    y = -np.logspace(-3, 3, 50).astype(numpy_dtype)
    got = ops.softminus_inverse(tf.constant(y, dtype), 1.5)
    expected = -ops.softplus_inverse(tf.constant(-y, dtype), 1.5)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    round_trip = ops.softminus(got, 1.5).numpy().astype(np.float64)
    # The round trip's condition number, as for softplus_inverse.
    eps = float(ml_dtypes.finfo(numpy_dtype).eps)
    x_value = got.numpy().astype(np.float64)
    relative_error = np.abs(round_trip / y.astype(np.float64) - 1)
    assert np.all(relative_error <= 4 * eps * (1 + np.abs(1.5 * x_value)))


def test_softminus_inverse_rejects_what_its_siblings_reject():
    with pytest.raises(ValueError, match="`beta` must be > 0. Received: beta=-1"):
        ops.softminus_inverse([-1.0], beta=-1)
    with pytest.raises(TypeError, match="`y` must be a floating-point tensor"):
        ops.softminus_inverse(tf.constant([-1], tf.int32))
