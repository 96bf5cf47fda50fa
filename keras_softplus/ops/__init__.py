"""The beta-softplus family: `softplus`, `softplus_inverse`, `softminus`.

These are the package's only numerics; layers, constraints and losses call
them. Each public function validates its arguments, computes float16 and
bfloat16 in float32, and hands tensors of one working dtype to the kernel of
the active Keras backend, chosen in `_kernels()` below.
"""

import numpy as np
import tensorflow as tf

from keras_softplus.ops import tf_kernels

_HALF_DTYPES = (tf.float16, tf.bfloat16)


def _kernels():
    """The kernel module of the active backend (TensorFlow)."""
    return tf_kernels


def _as_floating_tensor(x, name):
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(
            f"`{name}` must be a floating-point tensor (float16, bfloat16, "
            f"float32 or float64). Received: {name}.dtype={x.dtype.name}"
        )
    return x


def _as_beta(beta, dtype):
    """`beta` as a floating tensor; Python and NumPy values take `dtype`."""
    if tf.is_tensor(beta) or isinstance(beta, tf.Variable):
        beta_tensor = _as_floating_tensor(beta, "beta")
    else:
        array = np.asarray(beta)
        if array.dtype.kind not in "fiu":
            raise TypeError(
                "`beta` must be a real number or a floating-point tensor. "
                f"Received: beta={beta!r}"
            )
        beta_tensor = tf.convert_to_tensor(array, dtype=dtype)
    static_value = tf.get_static_value(beta_tensor)
    if static_value is not None and not np.all(static_value > 0):
        raise ValueError(f"`beta` must be > 0. Received: beta={beta!r}")
    return beta_tensor


def _prepare(x, beta, x_name):
    """Validates `(x, beta)` and casts both to the working dtype."""
    x = _as_floating_tensor(x, x_name)
    beta = _as_beta(beta, x.dtype)
    working_dtype = tf.float32 if x.dtype in _HALF_DTYPES else x.dtype
    return x, tf.cast(x, working_dtype), tf.cast(beta, working_dtype)


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
    for second derivatives in `x` and `beta`.

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
    return tf.cast(_kernels().softplus(x_working, beta_working), x.dtype)


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
    return tf.cast(_kernels().softplus_inverse(y_working, beta_working), y.dtype)


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
    return tf.cast(_kernels().softminus(x_working, beta_working), x.dtype)


__all__ = ["softplus", "softplus_inverse", "softminus"]
