"""Tests of `keras_softplus.activations`: activations that round-trip."""

import keras
import numpy as np
import pytest
from fresh_process import run_python

import keras_softplus
from keras_softplus import activations
from keras_softplus import ops


def dense_model(activation):
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(4, activation=activation)(inputs))


def test_ops_softplus_saves_under_this_packages_name():
    config = keras.layers.Dense(2, activation=ops.softplus).get_config()
    assert config["activation"]["config"] == "keras_softplus>softplus"
    restored = keras.layers.Dense.from_config(config)
    assert restored.activation is ops.softplus
    assert activations.softplus is ops.softplus


@pytest.mark.parametrize(
    "activation",
    [ops.softplus, activations.FixedBetaSoftplus(beta=3.0)],
    ids=["function", "fixed_beta"],
)
def test_keras_file_reloads_our_activation_in_safe_mode(activation, tmp_path):
    model = dense_model(activation)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "model.keras")
    output = run_python(
        f"""
        import numpy as np, keras, keras_softplus
        d = {str(tmp_path)!r}
        model = keras.saving.load_model(d + "/model.keras", safe_mode=True)
        x = np.load(d + "/x.npy")
        np.testing.assert_array_equal(
            model.predict(x, verbose=0), np.load(d + "/expected.npy"))
        activation = model.layers[-1].activation
        print(activation is keras_softplus.ops.softplus, repr(activation))
        """
    )
    if activation is ops.softplus:
        assert output.startswith("True ")
    else:
        assert output.strip() == "False FixedBetaSoftplus(beta=3.0)"


def test_fixed_beta_softplus_computes_the_op_and_serializes_its_beta():
    activation = activations.FixedBetaSoftplus(beta=0.5)
    x = np.linspace(-5, 5, 11, dtype="float32")
    np.testing.assert_array_equal(activation(x).numpy(), ops.softplus(x, 0.5).numpy())
    config = keras.saving.serialize_keras_object(activation)
    assert config["registered_name"] == "keras_softplus>FixedBetaSoftplus"
    assert keras.saving.deserialize_keras_object(config).beta == 0.5
    assert keras_softplus.activations.FixedBetaSoftplus is type(activation)


@pytest.mark.parametrize(
    "beta, error, message",
    [
        (0.0, ValueError, "`beta` must be > 0. Received: beta=0.0"),
        ("2", TypeError, "`beta` must be a real number"),
        (float("inf"), ValueError, "`beta` must be finite"),
    ],
    ids=["zero", "string", "inf"],
)
def test_fixed_beta_softplus_rejects_bad_beta(beta, error, message):
    with pytest.raises(error, match=message):
        activations.FixedBetaSoftplus(beta=beta)
