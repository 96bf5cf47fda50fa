"""Tests of `keras_softplus.ops.normal`, the package's Normal math."""

import numpy as np
import pytest
import scoringrules
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.ops import normal

# The NLL sums terms of either sign, so it has an absolute error of a few
# roundings of its largest term, and the CRPS a relative one.
TOLERANCE = {"float32": 2e-6, "float64": 1e-13}
ABSOLUTE = {"float32": 4e-6, "float64": 1e-13}


def sample(units, dtype, seed=0):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(64, units)) * 3
    scale = np.exp(rng.normal(size=(64, units)))
    y = loc + scale * rng.normal(size=(64, units)) * 2
    y_pred = np.concatenate([loc, scale], axis=-1).astype(dtype)
    return y.astype(dtype), y_pred


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("units", [1, 3], ids=["one_unit", "three_units"])
def test_nll_is_minus_the_tfp_log_prob_summed_over_units(units, dtype):
    y, y_pred = sample(units, dtype)
    loc, scale = y_pred[:, :units], y_pred[:, units:]
    normal64 = tfp.distributions.Normal(loc.astype("float64"), scale.astype("float64"))
    expected = -normal64.log_prob(y.astype("float64")).numpy().sum(-1)
    got = normal.normal_nll(y, y_pred).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(
        got, expected, rtol=TOLERANCE[dtype], atol=ABSOLUTE[dtype]
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("units", [1, 3], ids=["one_unit", "three_units"])
def test_crps_matches_scoringrules(units, dtype):
    y, y_pred = sample(units, dtype, seed=1)
    loc, scale = y_pred[:, :units], y_pred[:, units:]
    expected = scoringrules.crps_normal(
        y.astype("float64"), loc.astype("float64"), scale.astype("float64")
    ).mean(-1)
    got = normal.normal_crps(y, y_pred).numpy()
    np.testing.assert_allclose(got, expected, rtol=10 * TOLERANCE[dtype])


def test_beta_nll_weights_each_term_by_the_stopped_variance_power():
    y, y_pred = sample(2, "float32", seed=2)
    scale = y_pred[:, 2:]
    plain = -tfp.distributions.Normal(y_pred[:, :2], scale).log_prob(y).numpy()
    expected = (plain * scale ** (2 * 0.5)).sum(-1)
    np.testing.assert_allclose(
        normal.normal_nll(y, y_pred, beta_nll=0.5).numpy(), expected, rtol=1e-5
    )
    y_pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        loss = tf.reduce_sum(normal.normal_nll(y, y_pred, beta_nll=1.0))
    grad = tape.gradient(loss, y_pred).numpy()
    np.testing.assert_allclose(grad[:, :2], (y_pred[:, :2].numpy() - y), rtol=1e-4)


def test_mean_squared_error_is_of_the_loc_averaged_over_units():
    y, y_pred = sample(3, "float64", seed=3)
    expected = ((y - y_pred[:, :3]) ** 2).mean(-1)
    np.testing.assert_allclose(
        normal.normal_mean_squared_error(y, y_pred).numpy(), expected, rtol=1e-14
    )


def test_finite_values_and_gradients_at_the_floor_and_for_outliers():
    y_pred = tf.constant([[0.0, 1e-6], [0.0, 1e-6], [0.0, 1.0]], "float32")
    y = tf.constant([[1e-6], [1.0], [1e6]], "float32")
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        values = [normal.normal_nll(y, y_pred), normal.normal_crps(y, y_pred)]
        total = tf.add_n([tf.reduce_sum(v) for v in values])
    assert all(np.all(np.isfinite(v.numpy())) for v in values)
    assert np.all(np.isfinite(tape.gradient(total, y_pred).numpy()))
