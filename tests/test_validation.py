"""Tests of `keras_softplus.ops._validation`, the shared argument checks."""

import numpy as np
import pytest

from keras_softplus.ops._validation import positive_integer
from keras_softplus.ops._validation import real_number
from keras_softplus.ops._validation import representable


@pytest.mark.parametrize(
    "value, expected",
    [(1, 1.0), (np.float32(0.5), 0.5), (-2.5, -2.5)],
    ids=["int", "numpy", "negative"],
)
def test_real_number_accepts_finite_reals(value, expected):
    assert real_number(value, "x") == expected


@pytest.mark.parametrize(
    "value, error, message",
    [
        ("1", TypeError, "`x` must be a real number. Received: x='1'"),
        (None, TypeError, "Received: x=None"),
        (True, TypeError, "Received: x=True"),
        ([1.0], TypeError, r"Received: x=\[1.0\]"),
        (float("nan"), ValueError, "`x` must be finite. Received: x=nan"),
        (float("-inf"), ValueError, "`x` must be finite"),
    ],
    ids=["string", "none", "bool", "list", "nan", "inf"],
)
def test_real_number_rejects(value, error, message):
    with pytest.raises(error, match=message):
        real_number(value, "x")


@pytest.mark.parametrize(
    "value",
    [0, -1, 1.5, True, "2", None],
    ids=["zero", "neg", "frac", "bool", "str", "none"],
)
def test_positive_integer_rejects(value):
    with pytest.raises(ValueError, match="`n` must be a positive integer. Received"):
        positive_integer(value, "n")


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        (1e39, "float32", "`v` overflows float32"),
        (1e5, "float16", "`v` overflows float16"),
        (1e-50, "float32", "`v` underflows to 0 in float32"),
        (1e-8, "float16", "`v` underflows to 0 in float16"),
    ],
    ids=["over32", "over16", "under32", "under16"],
)
def test_representable_rejects_what_the_dtype_cannot_hold(value, dtype, message):
    with pytest.raises(ValueError, match=message):
        representable(value, "v", dtype)


@pytest.mark.parametrize(
    "value, dtype",
    [(0.0, "float16"), (1e-40, "float32"), (3e38, "float32"), (1e38, "bfloat16")],
    ids=["zero", "subnormal", "near_max", "bfloat16_range"],
)
def test_representable_keeps_what_the_dtype_can_hold(value, dtype):
    assert representable(value, "v", dtype) == value
