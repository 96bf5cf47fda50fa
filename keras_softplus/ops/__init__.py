"""The beta-softplus family: `softplus`, `softplus_inverse`, `softminus`.

These are the package's only numerics; layers, constraints and losses call
them. Each public function validates its arguments, computes float16 and
bfloat16 in float32, and hands tensors of one working dtype to the kernel of
the active Keras backend, chosen in `_kernels()` below: the TensorFlow kernel
(`tf_kernels`) under TensorFlow, the `keras.ops` kernel (`keras_kernels`)
under JAX and PyTorch. The validation here is backend-neutral (`keras.ops`
and NumPy), so every backend raises the same errors.
"""

import keras
import ml_dtypes
import numpy as np

_HALF_DTYPES = ("float16", "bfloat16")


def _kernels():
    """The kernel module of the active backend; the one place it is chosen.

    TensorFlow keeps its `tf.custom_gradient` kernel (bit-level Dekker
    split); every other backend gets the `keras.ops` kernel. Imported lazily,
    so that JAX and PyTorch processes never import TensorFlow.
    """
    if keras.backend.backend() == "tensorflow":
        from keras_softplus.ops import tf_kernels

        return tf_kernels
    from keras_softplus.ops import keras_kernels

    return keras_kernels


def _is_tensor(value):
    """Whether `value` is a backend tensor or variable (not Python/NumPy)."""
    return isinstance(value, keras.Variable) or keras.ops.is_tensor(value)


def _read(value):
    """A tensor or variable as a backend tensor holding its current value.

    `keras.ops.convert_to_tensor` reads a `keras.Variable`, but returns a
    TensorFlow `tf.Variable` unchanged; the kernels get its value, as a
    tensor on the caller's device (a compiled kernel may not access a
    variable that lives on another device, e.g. a mirrored one).
    """
    tensor = keras.ops.convert_to_tensor(value)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

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


def _known_all_positive(tensor):
    """False if `tensor` is known to hold a value that is not > 0 (or NaN).

    Values are known where they need no tracing: constants of a
    `tf.function` graph, and eager tensors of every backend. Symbolic values
    (other graph tensors, JAX tracers inside `jit` or `grad`, values under
    `torch.compile`) are not checked, and count as positive.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        value = tf.get_static_value(tensor)
        return value is None or bool(np.all(value > 0))
    if backend == "jax":
        import jax

        if isinstance(tensor, jax.core.Tracer):
            return True
    elif backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return True
    return bool(keras.ops.convert_to_numpy(keras.ops.all(tensor > 0)))


def _as_beta(beta, x, check_value=True):
    """`beta` as a floating tensor; Python and NumPy values take the dtype
    (and, on PyTorch, the device) of the tensor `x`.

    `check_value=False` skips the ValueError for a known `beta <= 0`; the
    dtype is checked either way.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    if _is_tensor(beta):
        _floating_dtype(beta.dtype, "beta")
        beta_tensor = _read(beta)
        known_positive = not check_value or _known_all_positive(beta_tensor)
    else:
        array = np.asarray(beta)
        if array.dtype.kind not in "fiu":
            raise TypeError(
                "`beta` must be a real number or a floating-point tensor. "
                f"Received: beta={beta!r}"
            )
        # Rounded to `dtype` in NumPy, so that the check sees what the
        # kernel gets (1e-9 is 0 in float16) without a device round trip.
        with np.errstate(over="ignore"):  # too large a beta rounds to inf
            array = array.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
        known_positive = not check_value or bool(np.all(array > 0))
        beta_tensor = keras.ops.convert_to_tensor(array, dtype=dtype)
        if keras.backend.backend() == "torch":
            # Keras puts new tensors on its default device (a GPU if there
            # is one); beta goes where x is.
            beta_tensor = beta_tensor.to(x.device)
    if not known_positive:
        raise ValueError(f"`beta` must be > 0. Received: beta={beta!r}")
    return beta_tensor


def _prepare(x, beta, x_name, check_beta=True):
    """Validates `(x, beta)`; returns `(x, x, beta)` in the working dtype."""
    x = _as_floating_tensor(x, x_name)
    dtype = keras.backend.standardize_dtype(x.dtype)
    beta = _as_beta(beta, x, check_value=check_beta)
    working_dtype = "float32" if dtype in _HALF_DTYPES else dtype
    return x, keras.ops.cast(x, working_dtype), keras.ops.cast(beta, working_dtype)


def softplus(x, beta=1.0):
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
    `beta * x` is formed error-free. The gradient is differentiable again,
    for second derivatives in `x` and `beta`. The same bounds hold on every
    Keras backend (TensorFlow, JAX, PyTorch).

    Args:
        x: floating-point tensor (float16, bfloat16, float32 or float64).
            float16 and bfloat16 are computed in float32.
        beta: positive Python float or floating tensor broadcastable to `x`.
            Its gradient is summed back to its own shape. A Python value
            takes the dtype of `x`.

    Returns:
        A tensor of the dtype of `x` and the broadcast shape.

    Raises:
        TypeError: for integer, boolean or complex inputs.
        ValueError: when `beta` is known statically and not > 0.

    Example:

    >>> import keras_softplus
    >>> keras_softplus.ops.softplus([-1.0, 0.0, 2.0], beta=2.0).numpy()
    array([0.0634..., 0.3465..., 2.0090...], dtype=float32)

    Reference:
    - [Dugas et al., 2001](https://proceedings.neurips.cc/paper/2000/hash/44968aece94f667e4095002d140b5896-Abstract.html)
    - [Dekker, 1971](https://doi.org/10.1007/BF01397083), error-free product.
    """
    x, x_working, beta_working = _prepare(x, beta, "x")
    return keras.ops.cast(_kernels().softplus(x_working, beta_working), x.dtype)


def _softplus_of_positive_beta(x, beta):
    """`softplus(x, beta)` for a `beta` that is positive by construction.

    For layers whose beta is a reparameterised weight
    (`softplus(beta_raw) + eps`). It skips only the check of beta's value:
    on an eager backend (PyTorch, or TensorFlow and JAX outside a traced
    function) that check copies beta to the host at every call, a device
    synchronisation per layer and step on GPU, and it would make a diverged
    eager training raise mid-`fit` where a compiled one reports NaN losses.
    """
    x, x_working, beta_working = _prepare(x, beta, "x", check_beta=False)
    return keras.ops.cast(_kernels().softplus(x_working, beta_working), x.dtype)


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
    return keras.ops.cast(
        _kernels().softplus_inverse(y_working, beta_working), y.dtype
    )


def softminus(x, beta=1.0):
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

    Returns:
        A tensor of the dtype of `x`.

    Example:

    >>> import keras_softplus
    >>> keras_softplus.ops.softminus([-30.0, 0.0, 30.0]).numpy()
    array([-3.000000e+01, -6.931472e-01, -9.357623e-14], dtype=float32)
    """
    x, x_working, beta_working = _prepare(x, beta, "x")
    return keras.ops.cast(_kernels().softminus(x_working, beta_working), x.dtype)


__all__ = ["softplus", "softplus_inverse", "softminus"]
