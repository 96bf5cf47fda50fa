"""Tests of `keras_softplus.layers.PositiveDense`."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_contract import check_layer_contract
from layer_inputs import rng_normal
from layer_inputs import softplus64

from keras_softplus.layers import PositiveDense
from keras_softplus.positivity import SoftplusPositive


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"units": 3},
        {
            "units": 2,
            "activation": "tanh",
            "positive": SoftplusPositive(min_value=0.1, beta=2.0),
            "kernel_regularizer": "l2",
        },
    ],
    ids=["default", "floor_and_regularizer"],
)
def test_layer_contract(init_kwargs, tmp_path):
    check_layer_contract(PositiveDense, init_kwargs, (4, 3), tmp_path)


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
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == [
        "raw_kernel",
        "bias",
    ]


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
    with pytest.raises(TypeError, match="must be a `keras_softplus.positivity"):
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
    _, slopes = input_gradients(
        control, np.linspace(-2, 2, 401, dtype="float32")[:, None]
    )
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
    model.fit(
        x, np.zeros((64, 4)), batch_size=16, epochs=25, verbose=0, callbacks=[recorder]
    )
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
