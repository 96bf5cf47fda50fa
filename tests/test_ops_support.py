"""Tests of `keras_softplus.ops.support`: one predicate per support, the
same eagerly (NumPy) and in compiled code (`keras.ops`)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_softplus.ops.support import is_count
from keras_softplus.ops.support import is_positive_normal
from keras_softplus.ops.support import supported

VALUES = np.array(
    [0.0, 1.0, 1e7, -1.0, 1.5, np.inf, -np.inf, np.nan, 1e-38, 1e-30], "float32"
)


@pytest.mark.parametrize(
    "predicate, expected",
    [
        pytest.param(is_count, [1, 1, 1, 0, 0, 0, 0, 0, 1, 0], id="count"),
        pytest.param(is_positive_normal, [0, 1, 1, 0, 1, 0, 0, 0, 0, 1], id="positive"),
    ],
)
def test_numpy_and_keras_ops_agree_on_every_kind_of_value(predicate, expected):
    with np.errstate(invalid="ignore"):
        eager = predicate(VALUES, np)
    graph = tf.function(predicate)(tf.constant(VALUES)).numpy()
    np.testing.assert_array_equal(eager, np.array(expected, bool))
    np.testing.assert_array_equal(graph, eager)


@pytest.mark.parametrize(
    "bad", [-1.0, 0.5, np.inf], ids=["negative", "fraction", "inf"]
)
def test_known_values_outside_the_support_raise(bad):
    with pytest.raises(
        ValueError, match=r"`y_true` must be a count .*Received: y_true"
    ):
        supported(tf.constant([1.0, bad]), "y_true", "a count", is_count)


def test_values_known_only_at_run_time_give_the_mask():
    @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
    def mask(values):
        return supported(values, "y_true", "a count", is_count)

    np.testing.assert_array_equal(mask(tf.constant([2.0, -1.0, np.inf])), [1, 0, 0])
