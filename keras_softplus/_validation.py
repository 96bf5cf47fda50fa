"""Argument checks shared by every public class, with Keras-style messages.

Each check names the argument and what was received
("`beta` must be > 0. Received: beta=-1").
"""

import math

import keras
import ml_dtypes
import numpy as np


def real_number(value, name):
    """`value` as a finite Python float; TypeError or ValueError otherwise."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(f"`{name}` must be a real number. Received: {name}={value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a real number. Received: {name}={value!r}"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value!r}")
    return number


def positive_integer(value, name):
    """`value` as an int >= 1; ValueError otherwise (booleans included)."""
    try:
        valid = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def representable(value, name, dtype):
    """Checks that the float `value` survives rounding to `dtype`.

    A value that overflows the dtype (1e39 in float32) or a non-zero value
    that underflows to 0 (1e-50 in float32) would silently give inf or a zero
    floor in the computation; both raise a ValueError naming the dtype.
    """
    dtype = keras.backend.standardize_dtype(dtype)
    numpy_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    with np.errstate(over="ignore", under="ignore"):
        rounded = float(np.asarray(value, dtype=numpy_dtype))
    if not math.isfinite(rounded):
        raise ValueError(
            f"`{name}` overflows {dtype}, the dtype it is computed in. "
            f"Received: {name}={value!r}"
        )
    if value != 0 and rounded == 0:
        raise ValueError(
            f"`{name}` underflows to 0 in {dtype}, the dtype it is computed in. "
            f"Received: {name}={value!r}"
        )
    return value
