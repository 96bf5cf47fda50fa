"""Tests of the inverses in `keras_softplus.ops`: `softplus_inverse` and
`softminus_inverse`, against 50-digit mpmath."""

import contextlib
import functools

import ml_dtypes
import mpmath_reference as mp_reference
import numpy as np
import pytest
import tensorflow as tf
from backend_worker import exact_inverse_partials
from input_grids import BETAS
from input_grids import accuracy_grid
from input_grids import seeded_normal

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


def value_and_partials(function, y, beta):
    """`(value, d/dy, d/dbeta)`, beta broadcast per element."""
    with tf.GradientTape() as tape:
        tape.watch([y, beta])
        x = function(y, beta)
    return (x, *tape.gradient(x, [y, beta]))


@functools.cache
def compiled(name, path, mode):
    """`value_and_partials` of the op `name` run eagerly, in a `tf.function`,
    or compiled by XLA; one trace per path (a trace keeps the
    `float32_only` scope it was made in)."""
    function = REFERENCES[name][0]

    def partials(y, beta):
        return value_and_partials(function, y, beta)

    if mode == "eager":
        return partials
    return tf.function(partials, jit_compile=mode == "xla")


REFERENCES = {
    "softplus_inverse": (ops.softplus_inverse, 1.0),
    "softminus_inverse": (ops.softminus_inverse, -1.0),
}


# The paths of the inverses: float32 (in float64 where the backend has it),
# float32 within `float32_only` (float32 operations only), float64.
PATHS = {
    "float32": ("float32", contextlib.nullcontext),
    "float32_only": ("float32", ops.float32_only),
    "float64": ("float64", contextlib.nullcontext),
}


@pytest.mark.parametrize("mode", ["eager", "tf_function", "xla"])
@pytest.mark.parametrize("beta", BETAS, ids=lambda b: f"beta={b}")
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("name", list(REFERENCES))
def test_inverse_value_and_gradients_within_ulp_of_mpmath(name, path, beta, mode):
    dtype, scope = PATHS[path]
    sign = REFERENCES[name][1]
    # beta*|y| over the accuracy grid's magnitudes, 1e-6 to 3e3, the root
    # (beta*|y| = log 2) included.
    magnitudes = accuracy_grid(300)[301:]
    y = (sign * magnitudes / beta).astype(dtype)
    beta_array = np.full_like(y, beta)
    with scope():
        results = compiled(name, path, mode)(tf.constant(y), tf.constant(beta_array))
    beta_rounded = float(beta_array[0])
    exact = [exact_inverse_partials(name, float(v), beta_rounded) for v in y]
    for index, quantity in enumerate(ULP_TOLERANCE):
        errors = mp_reference.ulp_errors(
            results[index].numpy(), [e[index] for e in exact], np.dtype(dtype)
        )
        worst = int(np.argmax(errors))
        assert errors[worst] <= ULP_TOLERANCE[quantity], (
            f"{quantity}: {errors[worst]:.1f} ulp at y={y[worst]!r}"
        )


def test_inverse_beta_gradient_is_summed_to_the_shape_of_beta():
    y = tf.constant(seeded_normal((4, 3), seed=5, dtype="float64") ** 2 + 0.1)
    beta = tf.constant([0.5, 2.0, 7.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(beta)
        x = ops.softplus_inverse(y, beta)
    grad = tape.gradient(x, beta).numpy()
    assert grad.shape == (3,)
    expected = [
        sum(
            float(exact_inverse_partials("softplus_inverse", float(v), float(b))[2])
            for v in y.numpy()[:, column]
        )
        for column, b in enumerate(beta.numpy())
    ]
    np.testing.assert_allclose(grad, expected, rtol=1e-13)


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
