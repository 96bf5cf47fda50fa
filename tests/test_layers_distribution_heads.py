"""Tests of `keras_softplus.layers.distribution_heads`."""

import keras
import numpy as np
import pytest

import keras_softplus
from keras_softplus.distributions import split_normal_params
from keras_softplus.layers import DistributionHead
from keras_softplus.layers import HeadParameter
from keras_softplus.layers import NormalHead
from keras_softplus.layers import PositiveHead
from keras_softplus.losses import NormalNLL
from layer_contract import check_layer_contract


def rng_normal(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


def normal_targets(batch_size):
    return rng_normal((batch_size, 2), seed=7)


@pytest.mark.parametrize(
    "layer_class, init_kwargs, loss, targets",
    [
        (NormalHead, {"units": 2, "initial_scale": 0.5}, NormalNLL(), normal_targets),
        (
            DistributionHead,
            {
                "units": 2,
                "parameters": [
                    {"name": "loc"},
                    {"name": "scale", "positive": True, "min_value": 1e-3},
                ],
            },
            NormalNLL(),
            normal_targets,
        ),
    ],
    ids=["normal", "generic"],
)
def test_layer_contract(layer_class, init_kwargs, loss, targets, tmp_path):
    check_layer_contract(
        layer_class, init_kwargs, (4, 3), tmp_path, loss=loss, targets=targets
    )


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


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"min_scale": 0.0}, ValueError, "`min_scale` must be > 0. Received: "),
        ({"min_scale": -1.0}, ValueError, "`min_scale` must be > 0. Received: "),
        ({"min_scale": 1e-50}, ValueError, "`min_scale` underflows to 0 in float32"),
        ({"min_scale": "1"}, TypeError, "`min_scale` must be a real number"),
        (
            {"min_scale": 1.0, "initial_scale": 1.0},
            ValueError,
            "`initial_scale` must be > `min_scale`",
        ),
        ({"initial_scale": float("inf")}, ValueError, "`initial_scale` must be finite"),
        ({"units": 0}, ValueError, "`units` must be a positive integer"),
        (
            {"scale_bias_initializer": "zeros"},
            ValueError,
            "`scale_bias_initializer` is not accepted",
        ),
        ({"loc_kernel_initializer": "nope"}, ValueError, "nope"),
    ],
    ids=[
        "zero_floor",
        "negative_floor",
        "floor_underflows",
        "string_floor",
        "initial_at_floor",
        "infinite_initial",
        "zero_units",
        "positive_bias_initializer",
        "unknown_initializer",
    ],
)
def test_normal_head_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        NormalHead(**kwargs)


def test_normal_head_floor_is_checked_in_the_compute_dtype():
    NormalHead(min_scale=1e-30)  # a normal float32
    with pytest.raises(ValueError, match="underflows to 0 in float16"):
        NormalHead(min_scale=1e-30, dtype="mixed_float16")


def test_normal_head_dense_options_reach_each_part():
    head = NormalHead(
        units=2,
        initial_scale=0.5,
        loc_kernel_initializer="zeros",
        loc_bias_initializer=keras.initializers.Constant(3.0),
        loc_kernel_regularizer=keras.regularizers.L2(0.1),
        scale_kernel_initializer="zeros",
        scale_bias_regularizer="l1",
        loc_bias_constraint=keras.constraints.NonNeg(),
    )
    x = rng_normal((5, 4), scale=3.0)
    loc, scale = split_normal_params(head(x))
    np.testing.assert_allclose(loc.numpy(), 3.0)
    np.testing.assert_allclose(scale.numpy(), 0.5, rtol=2e-6)
    assert len(head.losses) == 2
    assert isinstance(head.loc_dense.bias_constraint, keras.constraints.NonNeg)
    config = head.get_config()
    assert config["loc_kernel_regularizer"]["config"]["l2"] == pytest.approx(0.1)
    restored = NormalHead.from_config(config)
    assert restored.get_config() == config
    assert isinstance(restored.scale_head.kernel_initializer, keras.initializers.Zeros)


def test_normal_head_config_keeps_the_0_1_0_keys():
    head = NormalHead(units=2, min_scale=1e-4, initial_scale=2.0, name="normal")
    config = head.get_config()
    assert {"units", "min_scale", "initial_scale"} <= set(config)
    assert "parameters" not in config
    assert NormalHead.from_config(config).get_config() == config
    assert keras_softplus.NormalHead is NormalHead


def test_generic_head_declares_parameters_and_derives_the_floor_from_the_dtype():
    head = DistributionHead(
        3,
        [
            HeadParameter("loc"),
            HeadParameter("rate", positive=True, initial_value=2.0),
            HeadParameter("scale", positive=True, min_value=0.5, initial_value=1.0),
        ],
    )
    y = head(np.zeros((2, 4), "float32")).numpy()
    np.testing.assert_allclose(y, [[0.0] * 3 + [2.0] * 3 + [1.0] * 3] * 2, rtol=2e-6)
    assert head.rate_head.min_value == np.finfo("float32").eps
    assert head.scale_head.min_value == 0.5
    assert isinstance(head.loc_dense, keras.layers.Dense)
    low = head(rng_normal((64, 4), scale=1e3)).numpy()
    assert np.all(low[:, 3:6] >= np.finfo("float32").eps)
    assert np.all(low[:, 6:] >= 0.5)


@pytest.mark.parametrize(
    "parameters, message",
    [
        ([], "must name at least one parameter"),
        ([HeadParameter("a"), HeadParameter("a")], "each once"),
    ],
    ids=["empty", "repeated"],
)
def test_generic_head_rejects_bad_declarations(parameters, message):
    with pytest.raises(ValueError, match=message):
        DistributionHead(1, parameters)


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
