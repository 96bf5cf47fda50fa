"""Tests of `keras_softplus.positivity`."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_softplus
from keras_softplus import ops
from keras_softplus.positivity import PositiveSpaceInitializer
from keras_softplus.positivity import PositiveSpaceRegularizer
from keras_softplus.positivity import SoftplusPositive
from keras_softplus.positivity import positive_floor

RAW = np.array([-1e4, -200.0, -30.0, -2.0, 0.0, 0.5, 20.0, 1e4], dtype="float32")
TOLERANCE = {"float32": 2e-6, "float64": 1e-14}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "min_value, beta",
    [(0.0, 1.0), (0.1, 1.0), (1e-6, 3.0), (2.5, 0.2)],
    ids=["default", "floor", "sharp", "soft"],
)
def test_maps_to_min_value_plus_softplus_and_stays_above_the_floor(
    min_value, beta, dtype
):
    positive = SoftplusPositive(min_value=min_value, beta=beta)
    raw = RAW.astype(dtype)
    p = positive(raw).numpy()
    assert p.dtype == dtype
    expected = np.logaddexp(0.0, beta * raw.astype(np.float64)) / beta + min_value
    tiny = np.finfo(dtype).tiny  # the exact value underflows below it
    np.testing.assert_allclose(p, expected, rtol=TOLERANCE[dtype], atol=tiny)
    assert np.all(np.isfinite(p))
    assert np.all(p >= np.asarray(min_value, dtype))
    # Strictly above the floor wherever softplus does not underflow.
    assert np.all(p[raw > -10] > np.asarray(min_value, dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inverse_round_trips(dtype):
    rtol = 1e-5 if dtype == "float32" else 1e-12
    # With min_value = 0 even the far tail (tiny p) inverts accurately.
    raw = np.array([-30.0, -8.0, -1.0, 0.0, 0.7, 12.0, 300.0], dtype=dtype)
    tail = SoftplusPositive(min_value=0.0, beta=2.0)
    recovered = tail.inverse(tail(raw)).numpy()
    assert recovered.dtype == dtype
    np.testing.assert_allclose(recovered, raw, rtol=rtol, atol=rtol)
    # Above a floor, p - min_value keeps the digits of p only: stay where
    # softplus(raw) is not far below min_value.
    positive = SoftplusPositive(min_value=0.3, beta=2.0)
    recovered = positive.inverse(positive(raw[2:])).numpy()
    np.testing.assert_allclose(recovered, raw[2:], rtol=rtol * 10, atol=rtol * 10)
    p = np.array([0.31, 1.0, 7.0], dtype=dtype)
    np.testing.assert_allclose(
        positive(positive.inverse(p)).numpy(), p, rtol=TOLERANCE[dtype] * 4
    )


def test_inverse_uses_softplus_inverse_of_the_excess():
    positive = SoftplusPositive(min_value=0.25, beta=3.0)
    p = np.array([0.5, 2.0], dtype="float32")
    np.testing.assert_array_equal(
        positive.inverse(p).numpy(),
        ops.softplus_inverse(p - np.float32(0.25), 3.0).numpy(),
    )
    assert np.isneginf(positive.inverse(np.float32(0.25)).numpy())


def test_inverse_rejects_integers():
    with pytest.raises(TypeError, match="floating-point"):
        SoftplusPositive().inverse([1, 2])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_value": -0.1}, r"`min_value` must be >= 0. Received: min_value=-0.1"),
        ({"beta": 0.0}, r"`beta` must be > 0. Received: beta=0.0"),
        ({"beta": -1}, r"`beta` must be > 0. Received: beta=-1$"),
        ({"min_value": float("nan")}, r"`min_value` must be finite"),
        ({"beta": float("inf")}, r"`beta` must be finite"),
    ],
    ids=["negative_min_value", "zero_beta", "negative_beta", "nan_min", "inf_beta"],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SoftplusPositive(**kwargs)


def test_non_numeric_argument_raises_type_error():
    with pytest.raises(TypeError, match="`beta` must be a real number"):
        SoftplusPositive(beta="sharp")


def test_gradient_is_the_sigmoid_and_never_nan():
    positive = SoftplusPositive(min_value=0.1, beta=2.0)
    raw = tf.constant(RAW)
    with tf.GradientTape() as tape:
        tape.watch(raw)
        p = positive(raw)
    grad = tape.gradient(p, raw).numpy()
    expected = np.exp(-np.logaddexp(0.0, -2.0 * RAW.astype(np.float64)))
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-30)


def test_config_round_trip_and_registered_name():
    positive = SoftplusPositive(min_value=0.2, beta=4.0)
    assert positive.get_config() == {"min_value": 0.2, "beta": 4.0}
    assert (
        keras.saving.get_registered_name(SoftplusPositive)
        == "keras_softplus>SoftplusPositive"
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(positive)
    )
    assert isinstance(restored, SoftplusPositive)
    assert restored.get_config() == positive.get_config()
    assert repr(restored) == "SoftplusPositive(min_value=0.2, beta=4.0)"
    assert keras_softplus.SoftplusPositive is SoftplusPositive


def test_as_dense_activation_round_trips_through_config_and_keras_file(tmp_path):
    layer = keras.layers.Dense(3, activation=SoftplusPositive(0.1))
    restored = keras.layers.Dense.from_config(layer.get_config())
    assert isinstance(restored.activation, SoftplusPositive)
    assert restored.activation.get_config() == {"min_value": 0.1, "beta": 1.0}

    model = keras.Sequential([keras.Input((4,)), layer])
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32") * 50
    y = model.predict(x, verbose=0)
    assert np.all(y >= np.float32(0.1)) and np.all(np.isfinite(y))
    assert np.any(y < 0.2) and np.any(y > 1.0)  # really mapped, not clipped
    path = os.path.join(tmp_path, "dense.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[0].activation, SoftplusPositive)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), y)


@pytest.mark.parametrize("argument", ["kernel_constraint", "bias_constraint"])
def test_as_a_weight_constraint_raises_and_points_to_positive_dense(argument):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, **{argument: SoftplusPositive(0.1)})]
    )
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="PositiveDense") as info:
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert "projection" in str(info.value)


def test_calling_on_a_variable_it_does_not_constrain_maps_it():
    positive = SoftplusPositive(min_value=0.5)
    variable = keras.Variable(np.zeros((2,), "float32"))
    np.testing.assert_allclose(positive(variable).numpy(), 0.5 + np.log(2.0), rtol=1e-6)
    variable.constraint = positive
    with pytest.raises(ValueError, match="PositiveDense"):
        positive(variable)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_positive_floor_is_the_dtype_epsilon(dtype):
    eps = {
        "float16": 2.0**-10,
        "bfloat16": 2.0**-7,
        "float32": 2.0**-23,
        "float64": 2.0**-52,
    }[dtype]
    assert positive_floor(dtype) == eps


@pytest.mark.parametrize(
    "positive, dtype, message",
    [
        (SoftplusPositive(min_value=1e-50), "float32", "`min_value` underflows to 0"),
        (SoftplusPositive(min_value=1e-9), "float16", "`min_value` underflows to 0"),
        (SoftplusPositive(beta=1e39), "float32", "`beta` overflows float32"),
        (SoftplusPositive(beta=1e5), "float16", "`beta` overflows float16"),
    ],
    ids=["floor_float32", "floor_float16", "beta_float32", "beta_float16"],
)
def test_arguments_are_checked_in_the_dtype_of_the_inputs(positive, dtype, message):
    with pytest.raises(ValueError, match=message):
        positive(np.zeros(3, dtype))
    assert np.all(np.isfinite(positive(np.zeros(3, "float64")).numpy()))


def test_positive_space_initializer_samples_the_positive_value():
    positive = SoftplusPositive(min_value=0.1)
    initializer = PositiveSpaceInitializer(
        keras.initializers.RandomUniform(0.2, 0.3, seed=1), positive, "argument"
    )
    raw = initializer((50,), "float32")
    values = positive(raw).numpy()
    assert np.all((values > 0.2 - 1e-6) & (values < 0.3 + 1e-6))
    with pytest.raises(ValueError, match="`argument` gives the weight in positive"):
        PositiveSpaceInitializer(keras.initializers.Zeros(), positive, "argument")(
            (3,), "float32"
        )


def test_positive_space_regularizer_sees_the_positive_value():
    positive = SoftplusPositive(min_value=1.0)
    regularizer = PositiveSpaceRegularizer(keras.regularizers.L1(1.0), positive)
    raw = positive.inverse(np.array([2.0, 3.0], "float32"))
    np.testing.assert_allclose(float(regularizer(raw)), 5.0, rtol=1e-6)


def test_inverse_value_is_a_float64_scalar_inverse():
    positive = SoftplusPositive(min_value=0.5, beta=2.0)
    raw = positive.inverse_value(0.75)
    assert isinstance(raw, float)
    np.testing.assert_allclose(np.logaddexp(0.0, 2.0 * raw) / 2.0 + 0.5, 0.75)
