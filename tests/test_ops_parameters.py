"""Tests of `keras_softplus.ops.parameters`, the heads' output layout."""

import numpy as np
import pytest
import tensorflow as tf

from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import split_parameters


@pytest.mark.parametrize("count", [1, 2, 3])
def test_split_gives_each_parameter_its_units_in_order(count):
    units = 2
    y_pred = np.arange(4 * count * units, dtype="float32").reshape(4, count * units)
    parts = split_parameters(y_pred, tuple("abc"[:count]), "Head")
    assert len(parts) == count
    for k, part in enumerate(parts):
        np.testing.assert_array_equal(
            part.numpy(), y_pred[:, k * units : (k + 1) * units]
        )


@pytest.mark.parametrize(
    "y_pred",
    [np.zeros((2, 5)), np.zeros((2, 0)), np.float32(1.0)],
    ids=["not_a_multiple", "empty", "scalar"],
)
def test_split_rejects_a_last_axis_that_does_not_fit(y_pred):
    with pytest.raises(ValueError, match=r"non-zero multiple of 3 \(a, then b, then c"):
        split_parameters(y_pred, ("a", "b", "c"), "Head")


def test_split_rejects_an_unknown_last_axis_in_a_graph():
    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32)])
    def split(y_pred):
        return split_parameters(y_pred, ("a", "b"), "Head")

    with pytest.raises(ValueError, match="statically known"):
        split.get_concrete_function()


def test_align_adds_the_unit_axis_and_takes_the_parameter_dtype():
    aligned = align_targets(np.array([1, 2, 3]), np.zeros((3, 1), "float64"))
    assert tuple(aligned.shape) == (3, 1) and aligned.dtype == "float64"


def test_align_rejects_targets_of_another_width():
    with pytest.raises(ValueError, match=r"y_true.shape=\(3, 2\), units=3"):
        align_targets(np.zeros((3, 2)), np.zeros((3, 3), "float32"))
