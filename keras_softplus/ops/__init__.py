"""The beta-softplus family: `softplus`, `softplus_inverse`, `softminus`.

These are the package's only numerics; layers, constraints and losses call
them. Each public function validates its arguments, computes float16 and
bfloat16 in float32, and hands tensors of one working dtype to the kernel of
`_kernel`, one algorithm written with `keras.ops` for every backend (its
backend-specific parts are in `_backend`). The validation here is
backend-neutral (`keras.ops` and NumPy), so every backend raises the same
errors.
"""

import keras
import ml_dtypes
import numpy as np

from keras_softplus.ops import _kernel

_HALF_DTYPES = ("float16", "bfloat16")


def _is_tensor(value):
    """Whether `value` is a backend tensor or variable (not Python/NumPy)."""
    return isinstance(value, keras.Variable) or keras.ops.is_tensor(value)


def _read(value):
    """A tensor or variable as a backend tensor holding its current value.

    On TensorFlow, `keras.ops.convert_to_tensor` returns a `keras.Variable`
    or `tf.Variable` unchanged; the kernel gets its value, as a tensor (so
    that its value can be checked like a tensor's, and a compiled caller
    need not access a variable that lives on another device, e.g. a
    mirrored one).
    """
    tensor = keras.ops.convert_to_tensor(value)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(tensor, keras.Variable):
            tensor = tensor.value
        if isinstance(tensor, tf.Variable):
            tensor = tf.convert_to_tensor(tensor)
    return tensor


def _floating_dtype(dtype, name):
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


def _as_floating_tensor(x, name):
    """`x` as a backend tensor of a floating dtype.

    Tensors and variables keep their dtype. Python numbers and lists take
    Keras' `floatx()` (float32 by default), NumPy arrays their own dtype, as
    `tf.convert_to_tensor` and `keras.ops.convert_to_tensor` do. JAX without
    `jax_enable_x64` stores float64 as float32.
    """
    if _is_tensor(x):
        _floating_dtype(x.dtype, name)
        return _read(x)
    array = np.asarray(x)
    dtype = _floating_dtype(array.dtype, name)
    if not isinstance(x, (np.ndarray, np.generic)):
        dtype = keras.config.floatx()
    return keras.ops.convert_to_tensor(array, dtype=dtype)


def _static_value(tensor):
    """The value of `tensor` as NumPy where it is known without tracing,
    else None.

    Values are known for constants of a `tf.function` graph and for eager
    tensors of every backend. Symbolic values (other graph tensors, JAX
    tracers inside `jit` or `grad`, values under `torch.compile`) are not.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.get_static_value(tensor)
    if backend == "jax":
        import jax

        if isinstance(tensor, jax.core.Tracer):
            return None
    elif backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return None
    return keras.ops.convert_to_numpy(tensor)


def _check_beta_values(values, beta, dtype):
    """ValueError unless every value of beta (NumPy, already in the
    computation dtype `dtype`) is > 0 and finite."""
    values = np.asarray(values)
    if not np.all(values > 0):
        raise ValueError(f"`beta` must be > 0. Received: beta={beta!r}")
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`beta` must be finite in {dtype}, the dtype of the computation. "
            f"Received: beta={beta!r}"
        )


def _as_beta(beta, x, check_value=True):
    """`beta` as a floating tensor; Python and NumPy values take the dtype
    (and, on PyTorch, the device) of the tensor `x`.

    Its value is checked (> 0 and finite in the dtype of the computation)
    where it is known without tracing, unless `check_value=False`; the
    dtype is checked either way.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    if _is_tensor(beta):
        _floating_dtype(beta.dtype, "beta")
        beta_tensor = _read(beta)
        values = _static_value(beta_tensor) if check_value else None
        if values is not None:
            working = "float32" if dtype in _HALF_DTYPES else dtype
            with np.errstate(over="ignore"):  # too large a beta rounds to inf
                _check_beta_values(values.astype(working), beta, working)
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
        _check_beta_values(array, beta, dtype)
    beta_tensor = keras.ops.convert_to_tensor(array, dtype=dtype)
    if keras.backend.backend() == "torch":
        # Keras puts new tensors on its default device (a GPU if there is
        # one); beta goes where x is.
        beta_tensor = beta_tensor.to(x.device)
    return beta_tensor


def _check_broadcastable(x, beta, x_name):
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


def _prepare(x, beta, x_name, check_beta=True):
    """Validates `(x, beta)`; returns `(x, x, beta)` in the working dtype."""
    x = _as_floating_tensor(x, x_name)
    dtype = keras.backend.standardize_dtype(x.dtype)
    beta = _as_beta(beta, x, check_value=check_beta)
    _check_broadcastable(x, beta, x_name)
    working_dtype = "float32" if dtype in _HALF_DTYPES else dtype
    return x, keras.ops.cast(x, working_dtype), keras.ops.cast(beta, working_dtype)


def _learns_beta(beta, beta_gradient):
    """Whether the kernel forms d/dbeta: `beta_gradient`, or if None, whether
    `beta` is a tensor or variable (a Python or NumPy beta has no gradient)."""
    return _is_tensor(beta) if beta_gradient is None else bool(beta_gradient)


def softplus(x, beta=1.0, *, beta_gradient=None, validate_beta=True):
    """Beta-softplus, a smooth ReLU with sharpness `beta`, fused gradient.

    Formula:
    ```
    softplus(x, beta) = log(1 + exp(beta * x)) / beta
    d/dx    = sigmoid(beta * x)
    d/dbeta = g(beta * x) / beta**2,
    g(z)    = z*sigmoid(z) - softplus(z)
            = -(|z|*sigmoid(-|z|) + log1p(exp(-|z|)))
    ```
    The last form of `g` has no cancellation. The value and d/dx are within
    4 ulp, and d/dbeta within 16 ulp, of the exact result in float32 and
    float64 (tested against 50-digit mpmath), also far in the tails, where
    `beta * x` must be exact: float32 is computed in float64, where it is
    (and so is tiny x times huge beta); float64, and float32 on JAX without
    `jax_enable_x64`, carry an error-free product, exact for |x| and beta
    above `tiny / eps` (2**-970 in float64). The gradient is differentiable
    again, for second derivatives in `x` and `beta`. The same bounds hold
    on every Keras backend (TensorFlow, JAX, PyTorch), eagerly, in graphs
    and compiled (XLA).

    Args:
        x: floating-point tensor (float16, bfloat16, float32 or float64).
            float16 and bfloat16 are computed in float32.
        beta: positive Python float or floating tensor broadcastable to `x`.
            Its gradient is summed back to its own shape. A Python value
            takes the dtype of `x`.
        beta_gradient: whether beta gets a gradient. None (the default):
            yes for a tensor or variable beta, no for a Python or NumPy
            value. False: the kernel never forms d/dbeta (as cheap as the
            built-in softplus), and beta's gradient is None (zeros on JAX).
        validate_beta: whether to check that beta's values are > 0 and
            finite in the dtype of the computation, where they are known
            without tracing. False skips the check, for a beta positive by
            construction (`softplus(raw) + floor` in a layer): on an eager
            backend the check copies beta to the host at every call.

    Returns:
        A tensor of the dtype of `x` and the broadcast shape.

    Raises:
        TypeError: for integer, boolean or complex inputs.
        ValueError: when `beta` is known and not > 0 or not finite in the
            dtype of the computation, or when `x` and `beta` do not
            broadcast.

    Example:

    >>> import keras_softplus
    >>> keras_softplus.ops.softplus([-1.0, 0.0, 2.0], beta=2.0).numpy()
    array([0.0634..., 0.3465..., 2.0090...], dtype=float32)

    Reference:
    - [Dugas et al., 2001](https://proceedings.neurips.cc/paper/2000/hash/44968aece94f667e4095002d140b5896-Abstract.html)
    - [Dekker, 1971](https://doi.org/10.1007/BF01397083), error-free product.
    """
    learns_beta = _learns_beta(beta, beta_gradient)
    x, x_working, beta_working = _prepare(x, beta, "x", validate_beta)
    result = _kernel.softplus(x_working, beta_working, learns_beta)
    return keras.ops.cast(result, x.dtype)


def softplus_inverse(y, beta=1.0):
    """Inverse of `softplus(x, beta)`: the `x` with `softplus(x, beta) == y`.

    Used to initialise a raw parameter so that its softplus starts at a
    chosen positive value.

    Formula:
    ```
    softplus_inverse(y, beta) = log(expm1(beta * y)) / beta
                              = y + log(-expm1(-beta * y)) / beta
    ```
    The first form is used up to `beta*y = -log(eps)`, the second beyond,
    so neither `expm1` overflows nor a large `y` loses digits. Defined for
    `y > 0` (0 maps to `-inf`, negative `y` to NaN).

    Args:
        y: positive floating-point tensor.
        beta: positive Python float or floating tensor broadcastable to `y`.

    Returns:
        A tensor of the dtype of `y`.

    Example:

    >>> import keras_softplus
    >>> x = keras_softplus.ops.softplus_inverse([0.1, 1.0, 50.0])
    >>> x.numpy()
    array([-2.2521..., 0.5413..., 50. ], dtype=float32)
    >>> keras_softplus.ops.softplus(x).numpy()
    array([ 0.1,  1. , 50. ], dtype=float32)
    """
    y, y_working, beta_working = _prepare(y, beta, "y")
    return keras.ops.cast(_kernel.softplus_inverse(y_working, beta_working), y.dtype)


def softminus(x, beta=1.0, *, beta_gradient=None, validate_beta=True):
    """Softminus, `x - softplus(x, beta)`: a smooth `min(x, 0)`.

    Formula:
    ```
    softminus(x, beta) = x - softplus(x, beta) = -softplus(-x, beta)
    ```
    The right-hand side is what is computed; it never subtracts two large
    numbers, and it inherits the fused gradient of `softplus`.

    Args:
        x: floating-point tensor.
        beta: positive Python float or floating tensor broadcastable to `x`.
        beta_gradient: as in `softplus`.
        validate_beta: as in `softplus`.

    Returns:
        A tensor of the dtype of `x`.

    Example:

    >>> import keras_softplus
    >>> keras_softplus.ops.softminus([-30.0, 0.0, 30.0]).numpy()
    array([-3.000000e+01, -6.931472e-01, -9.357623e-14], dtype=float32)
    """
    learns_beta = _learns_beta(beta, beta_gradient)
    x, x_working, beta_working = _prepare(x, beta, "x", validate_beta)
    result = _kernel.softminus(x_working, beta_working, learns_beta)
    return keras.ops.cast(result, x.dtype)


__all__ = ["softplus", "softplus_inverse", "softminus"]
