"""Tests of `keras_softplus.layers.PositiveHead`."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from input_grids import seeded_normal
from layer_contract import check_layer_contract
from layer_inputs import softplus64

from keras_softplus.layers import BetaSoftplus
from keras_softplus.layers import PositiveHead


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"units": 2, "min_value": 0.1, "initial_value": 0.5},
        {"units": 1, "beta": 2.0, "learn_beta": True},
    ],
    ids=["fixed_beta", "learned_beta"],
)
def test_layer_contract(init_kwargs, tmp_path):
    check_layer_contract(PositiveHead, init_kwargs, (4, 3), tmp_path)


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
    x = seeded_normal((4, 5), scale=3.0)
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
    x = seeded_normal((8, 3))
    head(x)
    assert isinstance(head.beta_softplus, BetaSoftplus)
    np.testing.assert_allclose(float(head.beta), 2.0, rtol=1e-6)
    assert any(w is head.beta_softplus.raw_beta for w in head.trainable_weights)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(head(x) - 3.0))
    grad = tape.gradient(loss, head.beta_softplus.raw_beta)
    assert grad is not None and float(tf.abs(grad)) > 0

    fixed = PositiveHead(2, beta=2.0)
    fixed(x)
    assert not hasattr(fixed, "beta_softplus")
    assert fixed.trainable_weights == [fixed.dense.kernel, fixed.dense.bias]
    assert fixed.weights == fixed.trainable_weights


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"initial_value": 0.5, "min_value": 0.5},
            "`initial_value` must be > `min_value`",
        ),
        (
            {"initial_value": 0.1, "min_value": 1.0},
            "`initial_value` must be > `min_value`",
        ),
        ({"min_value": -1e-3}, r"`min_value` must be >= 0. Received: min_value=-0.001"),
        ({"beta": -1}, r"`beta` must be > 0. Received: beta=-1"),
        ({"initial_value": float("inf")}, "`initial_value` must be finite"),
        ({"min_value": 1e-50}, "`min_value` underflows to 0 in float32"),
        ({"beta": 1e39}, "`beta` overflows float32"),
        (
            {"units": float("inf")},
            "`units` must be a positive integer. Received: units=inf",
        ),
    ],
    ids=[
        "equal",
        "below",
        "negative_floor",
        "negative_beta",
        "infinite",
        "floor_underflows",
        "beta_overflows",
        "infinite_units",
    ],
)
def test_positive_head_validates_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PositiveHead(**{"units": 1, **kwargs})


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
    x = seeded_normal((3, 4))
    head(x)
    kernel = head.dense.kernel.numpy()
    (loss,) = head.losses
    np.testing.assert_allclose(float(loss), 0.5 * np.sum(kernel**2), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(
            {"initial_value": 7e4, "dtype": "mixed_float16"},
            "`initial_value` overflows float16",
            id="overflows_float16",
        ),
        pytest.param(
            {"initial_value": 1e39},
            "`initial_value` overflows float32",
            id="overflows_float32",
        ),
        pytest.param(
            {"min_value": 3e4, "initial_value": 65519.0, "dtype": "mixed_float16"},
            "`initial_value` makes the output at initialisation overflow float16",
            id="output_overflows_float16",
        ),
    ],
)
def test_positive_head_checks_the_initial_value_in_the_compute_dtype(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PositiveHead(1, **kwargs)
