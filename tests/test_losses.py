"""Tests of `keras_softplus.losses.NormalNLL` (Gaussian NLL and beta-NLL)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_softplus
from keras_softplus.layers import NormalHead
from keras_softplus.losses import NormalNLL

HALF_LOG_TWO_PI = 0.5 * np.log(2 * np.pi)
RTOL = {"float32": 2e-6, "float64": 1e-13}


def sample(units, batch=6, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(batch, units))
    scale = rng.uniform(0.2, 3.0, size=(batch, units))
    y = loc + scale * rng.normal(size=(batch, units)) * 2
    y_pred = np.concatenate([loc, scale], axis=-1)
    return y.astype(dtype), y_pred.astype(dtype)


def reference_terms(y, y_pred, beta_nll=0.0):
    """Elementwise (beta-)NLL in float64 numpy."""
    y = np.asarray(y, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    units = y_pred.shape[-1] // 2
    loc, scale = y_pred[..., :units], y_pred[..., units:]
    nll = HALF_LOG_TWO_PI + np.log(scale) + 0.5 * ((y - loc) / scale) ** 2
    return nll * scale ** (2 * beta_nll)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "beta_nll", [0.0, 0.5, 1.0], ids=["nll", "beta_half", "beta_one"]
)
@pytest.mark.parametrize("units", [1, 3])
def test_value_matches_reference_summed_over_units(units, beta_nll, dtype):
    y, y_pred = sample(units, dtype=dtype)
    loss = NormalNLL(beta_nll=beta_nll, reduction=None, dtype=dtype)
    got = loss(y, y_pred).numpy()
    assert got.shape == (6,) and got.dtype == dtype
    expected = reference_terms(y, y_pred, beta_nll).sum(axis=-1)
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype])
    mean = NormalNLL(beta_nll=beta_nll, dtype=dtype)(y, y_pred).numpy()
    np.testing.assert_allclose(mean, expected.mean(), rtol=RTOL[dtype])


def test_single_unit_accepts_targets_without_the_unit_axis():
    y, y_pred = sample(1)
    loss = NormalNLL(reduction=None)
    np.testing.assert_array_equal(
        loss(y[:, 0], y_pred).numpy(), loss(y, y_pred).numpy()
    )


def test_wrong_target_shape_raises():
    y, y_pred = sample(3)
    with pytest.raises(ValueError, match=r"`y_true` must have shape `\(..., units\)`"):
        NormalNLL()(y[:, :2], y_pred)
    with pytest.raises(ValueError, match="non-zero multiple of 2"):
        NormalNLL()(y, y_pred[:, :5])


def test_sample_weight_and_sum_reduction():
    y, y_pred = sample(2)
    weights = np.array([1.0, 0.0, 2.0, 0.5, 0.0, 1.0], "float32")
    per_sample = reference_terms(y, y_pred).sum(axis=-1)
    got = NormalNLL(reduction="sum")(y, y_pred, sample_weight=weights).numpy()
    np.testing.assert_allclose(got, np.sum(per_sample * weights), rtol=2e-6)


def gradients(loss, y, y_pred):
    y_pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = loss(tf.constant(y), y_pred)
    return value, tape.gradient(value, y_pred)


@pytest.mark.parametrize("units", [1, 3])
def test_beta_one_loc_gradient_is_the_mse_gradient_up_to_the_constant(units):
    y, y_pred = sample(units, dtype="float64")
    _, grad = gradients(NormalNLL(beta_nll=1.0, dtype="float64"), y, y_pred)
    mse = keras.losses.MeanSquaredError(dtype="float64")
    loc = tf.constant(y_pred[:, :units])
    with tf.GradientTape() as tape:
        tape.watch(loc)
        mse_value = mse(tf.constant(y), loc)
    mse_grad = tape.gradient(mse_value, loc).numpy()
    # MSE averages over the units, NormalNLL sums them; 0.5 from 0.5*z**2.
    np.testing.assert_allclose(
        grad.numpy()[:, :units], 0.5 * units * mse_grad, rtol=1e-12
    )
    batch = y.shape[0]
    np.testing.assert_allclose(
        grad.numpy()[:, :units], (y_pred[:, :units] - y) / batch, rtol=1e-12
    )
    # Without the weighting the loc gradient is damped by 1/scale**2.
    _, plain = gradients(NormalNLL(dtype="float64"), y, y_pred)
    scale = y_pred[:, units:]
    np.testing.assert_allclose(
        plain.numpy()[:, :units], (y_pred[:, :units] - y) / scale**2 / batch, rtol=1e-12
    )
    assert not np.allclose(plain.numpy()[:, :units], grad.numpy()[:, :units])


@pytest.mark.parametrize("beta_nll", [0.25, 0.5, 1.0])
def test_beta_nll_weight_is_not_differentiated(beta_nll):
    y, y_pred = sample(2, dtype="float64")
    _, grad = gradients(NormalNLL(beta_nll=beta_nll, dtype="float64"), y, y_pred)
    loc, scale = y_pred[:, :2], y_pred[:, 2:]
    z = (y - loc) / scale
    weight = scale ** (2 * beta_nll) / y.shape[0]
    np.testing.assert_allclose(
        grad.numpy()[:, 2:], weight * (1 - z**2) / scale, rtol=1e-12
    )
    np.testing.assert_allclose(grad.numpy()[:, :2], weight * -z / scale, rtol=1e-12)


@pytest.mark.parametrize("beta_nll", [0.0, 0.5, 1.0])
def test_no_nan_at_min_scale_and_for_outliers_in_float32(beta_nll):
    min_scale = np.float32(1e-6)
    loc = np.zeros((4, 1), "float32")
    scale = np.array([[min_scale], [min_scale], [1.0], [1.0]], "float32")
    y = np.array([[1e6 * 1e-6], [-1.0], [1e6], [-1e6]], "float32")  # 1e6 sd away
    y_pred = np.concatenate([loc, scale], axis=-1)
    value, grad = gradients(NormalNLL(beta_nll=beta_nll, reduction=None), y, y_pred)
    assert np.all(np.isfinite(value.numpy())) and np.all(np.isfinite(grad.numpy()))
    expected = reference_terms(y, y_pred, beta_nll)[:, 0]
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)


def test_no_nan_through_a_normal_head_whose_scale_sits_at_min_scale():
    head = NormalHead(units=2, min_scale=1e-6)
    x = np.ones((3, 4), "float32")
    head(x)
    head.scale_head.dense.bias.assign(np.full((2,), -1e4, "float32"))
    _, scale = keras_softplus.distributions.split_normal_params(head(x))
    np.testing.assert_array_equal(scale.numpy(), np.float32(1e-6))  # underflow
    loc = head(x).numpy()[:, :2]
    y = loc + np.array([[1.0, -1.0], [1e-6, 0.0], [1e3, 1e-3]], "float32")
    for beta_nll in (0.0, 0.5):
        with tf.GradientTape() as tape:
            value = NormalNLL(beta_nll=beta_nll)(y, head(x))
        grads = tape.gradient(value, head.trainable_weights)
        assert np.isfinite(float(value))
        for g in grads:
            assert np.all(np.isfinite(g.numpy()))


def test_half_precision_predictions_are_computed_in_float32():
    y, y_pred = sample(1)
    got = NormalNLL(reduction=None)(y, y_pred.astype("float16"))
    assert got.dtype == "float32"
    expected = reference_terms(y, y_pred.astype("float16")).sum(axis=-1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "beta_nll, error, message",
    [
        (-0.1, ValueError, r"`beta_nll` must be in \[0, 1\]. Received: beta_nll=-0.1"),
        (1.5, ValueError, r"`beta_nll` must be in \[0, 1\]"),
        (float("nan"), ValueError, "`beta_nll` must be finite"),
        ("half", TypeError, "`beta_nll` must be a real number"),
    ],
    ids=["negative", "above_one", "nan", "string"],
)
def test_invalid_beta_nll_raises(beta_nll, error, message):
    with pytest.raises(error, match=message):
        NormalNLL(beta_nll=beta_nll)


def test_config_round_trip_and_registration():
    loss = NormalNLL(beta_nll=0.5, reduction="sum", name="nll")
    config = loss.get_config()
    assert config["beta_nll"] == 0.5 and config["reduction"] == "sum"
    assert NormalNLL.from_config(config).get_config() == config
    assert keras.saving.get_registered_name(NormalNLL) == "keras_softplus>NormalNLL"
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, NormalNLL) and restored.get_config() == config
    assert keras_softplus.NormalNLL is NormalNLL
    assert isinstance(loss, keras.losses.Loss)


# The losses of the other heads wrap functions tested in tests/test_ops_*.py;
# here, what the wrapper adds: reduction, sample weights, config, dtype.
HEAD_LOSSES = {
    "StudentTNLL": (
        keras_softplus.losses.StudentTNLL,
        np.array([[0.5], [10.0]]),
        np.array([[0.0, 1.0, 3.0], [1.0, 2.0, 5.0]]),
    ),
    "PoissonNLL": (
        keras_softplus.losses.PoissonNLL,
        np.array([[0.0], [7.0]]),
        np.array([[2.0], [3.5]]),
    ),
    "NegativeBinomialNLL": (
        keras_softplus.losses.NegativeBinomialNLL,
        np.array([[0.0], [7.0]]),
        np.array([[2.0, 1.0], [3.5, 0.5]]),
    ),
    "GammaNLL": (
        keras_softplus.losses.GammaNLL,
        np.array([[0.5], [7.0]]),
        np.array([[2.0, 1.0], [3.5, 0.5]]),
    ),
}


def tfp_nll(name, y, y_pred):
    from keras_softplus import distributions

    as_distribution = {
        "StudentTNLL": distributions.as_student_t,
        "PoissonNLL": distributions.as_poisson,
        "NegativeBinomialNLL": distributions.as_negative_binomial,
        "GammaNLL": distributions.as_gamma,
    }[name]
    return -as_distribution(y_pred).log_prob(y).numpy()[:, 0]


@pytest.mark.parametrize("name", list(HEAD_LOSSES))
def test_head_losses_reduce_weight_and_round_trip_as_keras_losses(name):
    cls, y, y_pred = HEAD_LOSSES[name]
    per_sample = tfp_nll(name, y, y_pred)
    np.testing.assert_allclose(
        cls(reduction=None, dtype="float64")(y, y_pred).numpy(), per_sample, rtol=1e-10
    )
    np.testing.assert_allclose(cls()(y, y_pred).numpy(), per_sample.mean(), rtol=1e-5)
    weighted = cls(reduction="sum")(y, y_pred, sample_weight=np.array([2.0, 0.0]))
    np.testing.assert_allclose(weighted.numpy(), 2 * per_sample[0], rtol=1e-5)
    loss = cls(reduction="sum", name="custom")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is cls and restored.get_config() == loss.get_config()
    assert keras.saving.get_registered_name(cls) == f"keras_softplus>{name}"


@pytest.mark.parametrize("name", list(HEAD_LOSSES))
def test_head_losses_compute_half_precision_predictions_in_float32(name):
    cls, y, y_pred = HEAD_LOSSES[name]
    got = cls(reduction=None)(y, y_pred.astype("float16"))
    assert got.dtype == "float32"
    expected = tfp_nll(name, y, y_pred.astype("float16").astype("float64"))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
