"""Argument checks of the whole package, with Keras-style messages.

Each check names the argument and what was received
("`beta` must be > 0. Received: beta=-1"). The layers' arguments
(`real_number`, `positive_integer`, `positive_number`, `representable`) and
the tensors of the softplus family (`prepare`) are checked here; whether a
tensor's values are known now is `_execution.known_value`. The checks are
backend-neutral (`keras.ops` and NumPy), so every backend raises the same
errors.
"""

import math

import keras
import ml_dtypes
import numpy as np

from keras_softplus.ops._execution import is_tensor
from keras_softplus.ops._execution import known_value
from keras_softplus.ops._execution import on_device_of
from keras_softplus.ops._execution import read

HALF_DTYPES = ("float16", "bfloat16")


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


def positive_message(name, value, detail=""):
    """The package's one "`name` must be > 0" message."""
    return f"`{name}` must be > 0{detail}. Received: {name}={value!r}"


def positive_number(value, name, floor=0.0, detail=""):
    """`value` as a finite Python float above `floor` (0 by default);
    TypeError or ValueError (`positive_message`, with `detail`) otherwise."""
    number = real_number(value, name)
    if number <= floor:
        raise ValueError(positive_message(name, value, detail))
    return number


def positive_integer(value, name, maximum=None):
    """`value` as an int >= 1 (and <= `maximum` when given); ValueError
    otherwise (booleans, non-integers and infinities included)."""
    try:
        valid = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError, OverflowError):
        valid = False
    if valid and maximum is not None and value > maximum:
        raise ValueError(
            f"`{name}` must be an integer in [1, {maximum}]. Received: {name}={value!r}"
        )
    if not valid:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


# Counts up to 2**24 are exact in float32, the count CRPS's support.
MAX_SUPPORT_SIZE = 2**24


def support_size_argument(value):
    """`support_size` of a count CRPS: an int in [1, 2**24]."""
    return positive_integer(value, "support_size", MAX_SUPPORT_SIZE)


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


def floating_dtype(dtype, name):
    """The standardized name of `dtype`; TypeError unless it is floating."""
    try:
        dtype = keras.backend.standardize_dtype(dtype)
    except (TypeError, ValueError):
        dtype = str(dtype)
    if not keras.backend.is_float_dtype(dtype):
        raise TypeError(
            f"`{name}` must be a floating-point tensor (float16, bfloat16, "
            f"float32 or float64). Received: {name}.dtype={dtype}"
        )
    return dtype


def as_floating_tensor(x, name):
    """`x` as a backend tensor of a floating dtype.

    Tensors and variables keep their dtype. Python numbers and lists take
    Keras' `floatx()` (float32 by default), NumPy arrays their own dtype, as
    `tf.convert_to_tensor` and `keras.ops.convert_to_tensor` do. JAX without
    `jax_enable_x64` stores float64 as float32.
    """
    if is_tensor(x):
        floating_dtype(x.dtype, name)
        return read(x)
    array = np.asarray(x)
    dtype = floating_dtype(array.dtype, name)
    if not isinstance(x, (np.ndarray, np.generic)):
        dtype = keras.config.floatx()
    return keras.ops.convert_to_tensor(array, dtype=dtype)


def check_beta_values(values, beta, dtype):
    """ValueError unless every value of beta (NumPy, already in the
    computation dtype `dtype`) is > 0 and finite."""
    values = np.asarray(values)
    if not np.all(values > 0):
        raise ValueError(positive_message("beta", beta))
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`beta` must be finite in {dtype}, the dtype of the computation. "
            f"Received: beta={beta!r}"
        )


def as_beta(beta, x, check_value=True):
    """`beta` as a floating tensor; Python and NumPy values take the dtype
    (and, on PyTorch, the device) of the tensor `x`.

    Its value is checked (> 0 and finite in the dtype of the computation)
    where it is known without tracing, unless `check_value=False`; the
    dtype is checked either way.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    if is_tensor(beta):
        floating_dtype(beta.dtype, "beta")
        beta_tensor = read(beta)
        values = known_value(beta_tensor) if check_value else None
        if values is not None:
            working = "float32" if dtype in HALF_DTYPES else dtype
            with np.errstate(over="ignore"):  # too large a beta rounds to inf
                check_beta_values(values.astype(working), beta, working)
        return beta_tensor
    array = np.asarray(beta)
    if array.dtype.kind not in "fiu":
        raise TypeError(
            "`beta` must be a real number or a floating-point tensor. "
            f"Received: beta={beta!r}"
        )
    # Rounded to `dtype` in NumPy, so that the check sees what the kernel
    # gets (1e-9 is 0 and 1e5 is inf in float16) without a device round trip.
    with np.errstate(over="ignore"):  # too large a beta rounds to inf
        array = array.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    if check_value:
        check_beta_values(array, beta, dtype)
    # beta goes where x is (PyTorch's default device may be a GPU).
    return on_device_of(keras.ops.convert_to_tensor(array, dtype=dtype), x)


def check_broadcastable(x, beta, x_name):
    """ValueError naming both shapes unless `x` and `beta` broadcast (sizes
    unknown at trace time, None, are taken to broadcast)."""
    x_shape = tuple(None if d is None else int(d) for d in x.shape)
    beta_shape = tuple(None if d is None else int(d) for d in beta.shape)
    for x_size, beta_size in zip(reversed(x_shape), reversed(beta_shape), strict=False):
        if None not in (x_size, beta_size) and 1 not in (x_size, beta_size):
            if x_size != beta_size:
                raise ValueError(
                    f"`{x_name}` and `beta` must have broadcastable shapes. "
                    f"Received: {x_name}.shape={x_shape}, beta.shape={beta_shape}"
                )


def prepare(x, beta, x_name, check_beta=True):
    """Validates `(x, beta)`; returns `(x, x, beta)` in the working dtype."""
    x = as_floating_tensor(x, x_name)
    dtype = keras.backend.standardize_dtype(x.dtype)
    beta = as_beta(beta, x, check_value=check_beta)
    check_broadcastable(x, beta, x_name)
    working_dtype = "float32" if dtype in HALF_DTYPES else dtype
    return x, keras.ops.cast(x, working_dtype), keras.ops.cast(beta, working_dtype)


def learns_beta(beta, beta_gradient):
    """Whether the kernel forms d/dbeta: `beta_gradient`, or if None, whether
    `beta` is a tensor or variable (a Python or NumPy beta has no gradient)."""
    return is_tensor(beta) if beta_gradient is None else bool(beta_gradient)
