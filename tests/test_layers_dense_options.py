"""Tests of `keras_softplus.layers.dense_options`."""

import inspect

import keras
import pytest

from keras_softplus.layers.dense_options import DENSE_OPTION_MODULES
from keras_softplus.layers.dense_options import serialize_dense_options

# One value of each option other than Keras' default.
OPTION_VALUES = {
    "kernel_initializer": keras.initializers.Orthogonal(gain=2.0),
    "bias_initializer": keras.initializers.Constant(3.0),
    "kernel_regularizer": keras.regularizers.L1L2(l1=0.01, l2=0.1),
    "bias_regularizer": keras.regularizers.L2(0.5),
    "kernel_constraint": keras.constraints.MaxNorm(2.0),
    "bias_constraint": keras.constraints.NonNeg(),
}


def test_the_options_are_those_of_keras_dense():
    dense_arguments = inspect.signature(keras.layers.Dense).parameters
    assert set(DENSE_OPTION_MODULES) == set(OPTION_VALUES)
    assert set(DENSE_OPTION_MODULES) <= set(dense_arguments)


@pytest.mark.parametrize(
    "option", [pytest.param(option, id=option) for option in OPTION_VALUES]
)
def test_each_module_gets_and_serializes_its_option(option):
    module = DENSE_OPTION_MODULES[option]
    value = OPTION_VALUES[option]
    restored = module.get(module.serialize(value))
    assert type(restored) is type(value)
    assert restored.get_config() == value.get_config()


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(OPTION_VALUES, id="every_option_set"),
        pytest.param({}, id="defaults"),
    ],
)
def test_serialized_options_are_those_of_dense_get_config(options):
    """A `keras.layers.Dense` holds each option as an attribute of its name,
    and its own config is the reference."""
    dense = keras.layers.Dense(2, **options)
    names = tuple(DENSE_OPTION_MODULES)
    serialized = serialize_dense_options(dense, names)
    assert list(serialized) == list(names)
    assert serialized == {name: dense.get_config()[name] for name in names}
