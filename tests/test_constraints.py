"""Tests of `keras_softplus.constraints`, the kept import path."""

import keras

from keras_softplus import constraints
from keras_softplus import positivity


def test_softplus_positive_keeps_its_import_path_and_registered_name():
    assert constraints.SoftplusPositive is positivity.SoftplusPositive
    config = keras.saving.serialize_keras_object(constraints.SoftplusPositive(0.1))
    assert config["registered_name"] == "keras_softplus>SoftplusPositive"
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, positivity.SoftplusPositive)
    assert restored.min_value == 0.1
