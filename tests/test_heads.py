"""Tests of `PositiveDense`, `PositiveHead` and `NormalHead`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_softplus
from keras_softplus.constraints import SoftplusPositive
from keras_softplus.distributions import split_normal_params
from keras_softplus.layers import BetaSoftplus
from keras_softplus.layers import NormalHead
from keras_softplus.layers import PositiveDense
from keras_softplus.layers import PositiveHead
from keras_softplus.losses import NormalNLL


def softplus64(x, beta=1.0):
    return np.logaddexp(0.0, beta * np.asarray(x, np.float64)) / beta


def rng_normal(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


# --------------------------------------------------------------------------
# PositiveDense


@pytest.mark.parametrize(
    "min_value, beta, activation",
    [(0.0, 1.0, None), (0.1, 1.0, "tanh"), (0.5, 3.0, "relu")],
    ids=["default", "floor_tanh", "sharp_relu"],
)
def test_positive_dense_computes_inputs_times_positive_kernel(
    min_value, beta, activation
):
    layer = PositiveDense(
        3,
        activation=activation,
        bias_initializer="random_normal",
        positive=SoftplusPositive(min_value, beta),
    )
    x = rng_normal((5, 4))
    y = layer(x).numpy()
    raw = layer.raw_kernel.numpy()
    kernel = min_value + softplus64(raw, beta)
    np.testing.assert_allclose(layer.positive_kernel.numpy(), kernel, rtol=1e-6)
    pre = x.astype(np.float64) @ kernel + layer.bias.numpy()
    expected = {None: pre, "tanh": np.tanh(pre), "relu": np.maximum(pre, 0)}[activation]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["raw_kernel", "bias"]


def test_positive_dense_accepts_higher_rank_inputs():
    layer = PositiveDense(2, use_bias=False)
    x = rng_normal((3, 5, 4))
    y = layer(x)
    assert tuple(y.shape) == (3, 5, 2) == layer.compute_output_shape((3, 5, 4))
    # float64 reference; atol covers outputs that cancel to near zero.
    kernel = layer.positive_kernel.numpy().astype(np.float64)
    expected = np.einsum("bti,io->bto", x.astype(np.float64), kernel)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert layer.bias is None


def test_positive_dense_initializer_is_in_positive_space():
    layer = PositiveDense(
        4,
        kernel_initializer=keras.initializers.Constant(0.35),
        positive=SoftplusPositive(min_value=0.1, beta=2.0),
    )
    layer.build((None, 3))
    np.testing.assert_allclose(layer.positive_kernel.numpy(), 0.35, rtol=1e-6)
    np.testing.assert_allclose(
        layer.raw_kernel.numpy(), np.log(np.expm1(2.0 * 0.25)) / 2.0, rtol=1e-5
    )


@pytest.mark.parametrize("min_value", [0.0, 0.2])
def test_positive_dense_default_initializer_range(min_value):
    fan_in = 8
    layer = PositiveDense(64, positive=SoftplusPositive(min_value))
    layer.build((None, fan_in))
    kernel = layer.positive_kernel.numpy()
    assert np.all(kernel >= min_value + 0.5 / fan_in - 1e-6)
    assert np.all(kernel <= min_value + 1.5 / fan_in + 1e-6)
    np.testing.assert_allclose(kernel.mean(), min_value + 1 / fan_in, rtol=0.05)
    assert kernel.std() > 0.02  # random, not constant


@pytest.mark.parametrize(
    "initializer",
    ["glorot_uniform", keras.initializers.Constant(0.1)],
    ids=["zero_mean", "at_the_floor"],
)
def test_positive_dense_rejects_samples_at_or_below_min_value(initializer):
    layer = PositiveDense(
        3, kernel_initializer=initializer, positive=SoftplusPositive(0.1)
    )
    with pytest.raises(ValueError, match=r"must be > min_value=0.1"):
        layer.build((None, 4))


def test_positive_dense_rejects_kernel_constraint_and_wrong_positive():
    with pytest.raises(ValueError, match="does not take a `kernel_constraint`"):
        PositiveDense(2, kernel_constraint="non_neg")
    with pytest.raises(TypeError, match="must be a `keras_softplus.constraints"):
        PositiveDense(2, positive="softplus")
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        PositiveDense(0)


def test_positive_dense_regularizes_the_positive_kernel_not_the_raw_weight():
    layer = PositiveDense(
        3,
        kernel_regularizer=keras.regularizers.L1(0.01),
        kernel_initializer=keras.initializers.Constant(0.05),
    )
    layer.build((None, 4))
    # softplus_inverse(0.05) is negative: L1 of the raw weight would differ.
    assert np.all(layer.raw_kernel.numpy() < -2)
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), 0.01 * 0.05 * 12, rtol=1e-5)


def test_positive_dense_config_round_trip():
    layer = PositiveDense(
        5,
        activation=SoftplusPositive(0.01),
        kernel_initializer=keras.initializers.RandomUniform(0.3, 0.6),
        kernel_regularizer="l2",
        bias_constraint="non_neg",
        positive=SoftplusPositive(min_value=0.2, beta=2.0),
        name="monotone",
    )
    config = layer.get_config()
    restored = PositiveDense.from_config(config)
    assert restored.get_config() == config
    assert restored.positive.get_config() == {"min_value": 0.2, "beta": 2.0}
    assert isinstance(restored.activation, SoftplusPositive)
    default = PositiveDense.from_config(PositiveDense(2).get_config())
    assert default.kernel_initializer is None
    assert default.positive.get_config() == {"min_value": 0.0, "beta": 1.0}


def test_positive_dense_mixed_precision_keeps_the_raw_kernel_in_float32():
    layer = PositiveDense(3, dtype="mixed_float16")
    y = layer(rng_normal((2, 4)))
    assert y.dtype == "float16"
    assert layer.raw_kernel.dtype == "float32"
    assert layer.positive_kernel.dtype == "float32"


def monotone_model():
    return keras.Sequential(
        [
            keras.Input((1,)),
            PositiveDense(16, activation="tanh"),
            PositiveDense(16, activation="tanh"),
            PositiveDense(1),
        ]
    )


def input_gradients(model, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    return y.numpy().ravel(), tape.gradient(y, x).numpy().ravel()


def train_monotone(target, epochs, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(512, 1)).astype("float32")
    y = (target(x) + 0.1 * rng.normal(size=x.shape)).astype("float32")
    model = monotone_model()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model, history.history["loss"], float(np.var(y))


def assert_non_decreasing(model):
    grid = np.linspace(-3, 3, 2001, dtype="float32")[:, None]
    values, slopes = input_gradients(model, grid)
    assert np.all(slopes >= 0), f"negative slope {slopes.min()}"
    assert np.all(np.diff(values) >= -1e-6 * np.max(np.abs(values)))
    return values, slopes


def wiggly(x):
    """Non-monotone: its slope 1 + 3 cos(3x) is negative in places."""
    return x + np.sin(3 * x)


def test_monotone_network_learns_a_non_decreasing_function():
    model, losses, variance = train_monotone(wiggly, epochs=10, seed=1)
    assert losses[-1] < 0.25 * variance  # it learned the trend
    values, slopes = assert_non_decreasing(model)
    # The target decreases in places, the fit does not: it flattens there.
    assert slopes.max() > 5 * max(slopes.min(), 1e-3)
    # The kernels stayed positive throughout, so stacked they are monotone.
    for layer in model.layers:
        assert np.all(layer.positive_kernel.numpy() > 0)


@pytest.mark.slow
def test_monotone_network_long_training_and_unconstrained_control(monkeypatch):
    model, losses, variance = train_monotone(lambda x: x**3, epochs=150, seed=2)
    assert losses[-1] < 0.01 * variance
    assert_non_decreasing(model)
    # Control: the same network with plain Dense layers learns the wiggle of
    # the non-monotone target, so the monotonicity above is PositiveDense's.
    monkeypatch.setitem(
        globals(),
        "monotone_model",
        lambda: keras.Sequential(
            [keras.Input((1,))]
            + [keras.layers.Dense(16, activation="tanh") for _ in range(2)]
            + [keras.layers.Dense(1)]
        ),
    )
    control, _, _ = train_monotone(wiggly, epochs=10, seed=1)
    _, slopes = input_gradients(control, np.linspace(-2, 2, 401, dtype="float32")[:, None])
    assert slopes.min() < -0.1


class KernelRecorder(keras.callbacks.Callback):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.kernels = []
        self.raw = []

    def on_train_batch_end(self, batch, logs=None):
        self.kernels.append(self.layer.positive_kernel.numpy())
        self.raw.append(self.layer.raw_kernel.numpy())


def push_down(y_true, y_pred):
    """A loss whose gradient pushes every (positive) weight down, hard."""
    return 100.0 * keras.ops.mean(y_pred, axis=-1)


@pytest.mark.parametrize("min_value", [0.0, 0.1], ids=["zero_floor", "floor"])
def test_sgd_at_learning_rate_10_never_takes_a_kernel_below_min_value(min_value):
    keras.utils.set_random_seed(0)
    layer = PositiveDense(
        4,
        use_bias=False,
        kernel_initializer=keras.initializers.RandomUniform(
            min_value + 0.5, min_value + 2.0
        ),
        positive=SoftplusPositive(min_value=min_value),
    )
    model = keras.Sequential([keras.Input((5,)), layer])
    assert [w.path for w in model.trainable_weights] == [layer.raw_kernel.path]
    x = np.random.default_rng(0).uniform(1, 2, size=(64, 5)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=10.0), loss=push_down)
    initial_raw = layer.raw_kernel.numpy()
    recorder = KernelRecorder(layer)
    model.fit(x, np.zeros((64, 4)), batch_size=16, epochs=25, verbose=0,
              callbacks=[recorder])
    kernels = np.stack(recorder.kernels)
    assert kernels.shape == (100, 5, 4)
    floor = np.float32(min_value)
    assert np.all(np.isfinite(kernels)) and np.all(np.isfinite(recorder.raw))
    assert np.all(kernels >= floor), f"min {kernels.min()} < {floor}"
    # The loss did push: the very first step would have taken a plain weight
    # far below the floor (lr * dL/dw = 10 * 100 * mean(x) / 4 ~ 375).
    assert np.all(kernels[-1] - floor < 1e-3)
    assert np.all(recorder.raw[0] < initial_raw - 10)  # a huge first step
    assert np.all(np.diff(np.stack(recorder.raw), axis=0) <= 0)


# --------------------------------------------------------------------------
# PositiveHead


@pytest.mark.parametrize(
    "min_value, initial_value, beta, learn_beta",
    [
        (1e-6, 1.0, 1.0, False),
        (0.0, 0.3, 1.0, False),
        (0.5, 0.5001, 4.0, True),
        (2.0, 50.0, 0.5, True),
    ],
    ids=["default", "zero_floor", "near_floor_learned_beta", "large"],
)
def test_positive_head_outputs_initial_value_for_zero_input(
    min_value, initial_value, beta, learn_beta
):
    head = PositiveHead(
        3,
        min_value=min_value,
        initial_value=initial_value,
        beta=beta,
        learn_beta=learn_beta,
        kernel_initializer="random_normal",
    )
    np.testing.assert_allclose(
        head(np.zeros((2, 5), "float32")).numpy(), initial_value, rtol=2e-6
    )
    x = rng_normal((4, 5), scale=3.0)
    expected = min_value + softplus64(head.dense(x).numpy(), beta)
    np.testing.assert_allclose(head(x).numpy(), expected, rtol=2e-5)


def test_positive_head_stays_above_min_value_and_finite():
    head = PositiveHead(2, min_value=0.01, kernel_initializer="ones")
    x = np.array([[-1e6, -1e6], [-40.0, -40.0], [0.0, 0.0], [1e6, 1e6]], "float32")
    y = head(x).numpy()
    assert np.all(np.isfinite(y)) and np.all(y >= np.float32(0.01))
    np.testing.assert_array_equal(y[0], np.float32(0.01))  # softplus underflows
    assert np.all(y[1] > np.float32(0.01)) or np.all(y[1] == np.float32(0.01))
    np.testing.assert_allclose(y[3], 2e6, rtol=1e-6)


def test_positive_head_learns_beta_through_beta_softplus():
    head = PositiveHead(2, beta=2.0, learn_beta=True)
    x = rng_normal((8, 3))
    head(x)
    assert isinstance(head.beta_softplus, BetaSoftplus)
    np.testing.assert_allclose(float(head.beta), 2.0, rtol=1e-6)
    assert any(w is head.beta_softplus.beta_raw for w in head.trainable_weights)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(head(x) - 3.0))
    grad = tape.gradient(loss, head.beta_softplus.beta_raw)
    assert grad is not None and float(tf.abs(grad)) > 0

    fixed = PositiveHead(2, beta=2.0)
    fixed(x)
    assert not any(w is fixed.beta_softplus.beta_raw for w in fixed.trainable_weights)
    assert len(fixed.trainable_weights) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"initial_value": 0.5, "min_value": 0.5}, "`initial_value` must be > `min_value`"),
        ({"initial_value": 0.1, "min_value": 1.0}, "`initial_value` must be > `min_value`"),
        ({"min_value": -1e-3}, r"`min_value` must be >= 0. Received: min_value=-0.001"),
        ({"beta": -1}, r"`beta` must be > 0. Received: beta=-1"),
        ({"initial_value": float("inf")}, "`initial_value` must be finite"),
    ],
    ids=["equal", "below", "negative_floor", "negative_beta", "infinite"],
)
def test_positive_head_validates_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PositiveHead(1, **kwargs)


def test_positive_head_config_round_trip_and_regularizers():
    head = PositiveHead(
        2,
        min_value=0.1,
        initial_value=0.7,
        beta=3.0,
        learn_beta=True,
        kernel_regularizer=keras.regularizers.L2(0.5),
        bias_constraint="non_neg",
        name="rate",
    )
    config = head.get_config()
    restored = PositiveHead.from_config(config)
    assert restored.get_config() == config
    assert config["beta"] == 3.0 and config["learn_beta"] is True
    x = rng_normal((3, 4))
    head(x)
    kernel = head.dense.kernel.numpy()
    (loss,) = head.losses
    np.testing.assert_allclose(float(loss), 0.5 * np.sum(kernel**2), rtol=1e-5)


# --------------------------------------------------------------------------
# NormalHead


@pytest.mark.parametrize("units", [1, 3])
def test_normal_head_layout_and_initial_scale(units):
    head = NormalHead(units=units, min_scale=1e-3, initial_scale=0.4)
    y = head(np.zeros((2, 5), "float32")).numpy()
    assert y.shape == (2, 2 * units)
    np.testing.assert_array_equal(y[:, :units], 0.0)
    np.testing.assert_allclose(y[:, units:], 0.4, rtol=2e-6)
    x = rng_normal((6, 5), scale=10.0)
    loc, scale = split_normal_params(head(x))
    np.testing.assert_allclose(loc.numpy(), head.loc_dense(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(scale.numpy(), head.scale_head(x).numpy(), rtol=1e-6)
    assert np.all(scale.numpy() >= np.float32(1e-3))
    assert isinstance(head.scale_head, PositiveHead)
    assert head.scale_head.min_value == 1e-3 and head.scale_head.initial_value == 0.4
    assert head.compute_output_shape((None, 7, 5)) == (None, 7, 2 * units)


def test_normal_head_validates_and_round_trips():
    with pytest.raises(ValueError, match="`min_scale` must be > 0"):
        NormalHead(min_scale=0.0)
    with pytest.raises(ValueError, match="`initial_scale` must be > `min_scale`"):
        NormalHead(min_scale=1.0, initial_scale=1.0)
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        NormalHead(units=0)
    head = NormalHead(units=2, min_scale=1e-4, initial_scale=2.0, name="normal")
    config = head.get_config()
    assert NormalHead.from_config(config).get_config() == config
    assert keras_softplus.NormalHead is NormalHead


def test_normal_head_learns_a_heteroscedastic_scale():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(512, 1)).astype("float32")
    noise = np.where(x > 0, 1.0, 0.1)
    y = (2 * x + noise * rng.normal(size=x.shape)).astype("float32")
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(16, activation="tanh"), NormalHead(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=NormalNLL())
    model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    loc, scale = split_normal_params(
        model.predict(np.array([[-0.6], [0.6]], "float32"), verbose=0)
    )
    np.testing.assert_allclose(loc.numpy().ravel(), [-1.2, 1.2], atol=0.35)
    low, high = scale.numpy().ravel()
    assert 0.05 < low < 0.3 and 0.6 < high < 1.5, (low, high)
