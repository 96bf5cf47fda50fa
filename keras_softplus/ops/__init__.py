"""The package's numerics: the beta-softplus family and the distributions.

The beta-softplus family is here: `softplus`, `softplus_inverse`,
`softminus`, `softminus_inverse`. Each validates its arguments
(`_validation.prepare`: float16 and bfloat16 are computed in float32) and
hands tensors of one working dtype to `_execution`, which decides how the
kernel's formulas (`_kernel`) run. The distribution heads' math is in one
module per family (`normal`, `student_t`, `poisson`, `negative_binomial`,
`gamma`), on the special functions of `special` and the output layouts of
`parameters`. docs/architecture.md draws the tree.
"""

import keras

from keras_softplus.ops import _execution
from keras_softplus.ops import counts
from keras_softplus.ops import gamma
from keras_softplus.ops import negative_binomial
from keras_softplus.ops import normal
from keras_softplus.ops import parameters
from keras_softplus.ops import poisson
from keras_softplus.ops import special
from keras_softplus.ops import student_t
from keras_softplus.ops import support
from keras_softplus.ops._validation import learns_beta
from keras_softplus.ops._validation import prepare


def _run(kernel, value, beta, name, validate_beta=True, *options):
    """Validates `(value, beta)` (`value` named `name` in errors), runs
    `kernel` of `_execution` on them in the working dtype, and returns its
    result in the dtype of `value`."""
    value, value_working, beta_working = prepare(value, beta, name, validate_beta)
    result = kernel(value_working, beta_working, *options)
    return keras.ops.cast(result, value.dtype)


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
    (and so is tiny x times huge beta); float64, and float32 where there is
    no float64 (JAX on TPU, JAX before 0.8 without `jax_enable_x64`,
    `float32_only`), carry an error-free product, exact for |x| and beta
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
    gradient = learns_beta(beta, beta_gradient)
    return _run(_execution.softplus, x, beta, "x", validate_beta, gradient)


def softplus_inverse(y, beta=1.0):
    """Inverse of `softplus(x, beta)`: the `x` with `softplus(x, beta) == y`.

    Used to initialise a raw parameter so that its softplus starts at a
    chosen positive value.

    Formula:
    ```
    softplus_inverse(y, beta) = log(expm1(beta * y)) / beta
                              = y + log(-expm1(-beta * y)) / beta
    d/dy    = 1 / (-expm1(-beta * y))
    d/dbeta = h(beta * y) / beta**2,
    h(w)    = w / expm1(w) - log(-expm1(-w))
    ```
    The first form is used below `beta*y = log(3)` (around the root,
    `beta*y = log(2)`, as `log1p(2*expm1(beta*y - log(2)))`), the second
    beyond, so neither `expm1` overflows nor a large `y` loses digits. Both
    terms of `h` are positive, so d/dbeta has no cancellation (autodiff of
    the value loses every digit once it is exponentially small). The value
    and d/dy are within 4 ulp, and d/dbeta within 16 ulp, of 50-digit
    mpmath in float32 and float64, on every backend. Defined for `y > 0`
    (0 maps to `-inf`, negative `y` to NaN).

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
    return _run(_execution.softplus_inverse, y, beta, "y")


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
    gradient = learns_beta(beta, beta_gradient)
    return _run(_execution.softminus, x, beta, "x", validate_beta, gradient)


def softminus_inverse(y, beta=1.0):
    """Inverse of `softminus(x, beta)`: the `x` with `softminus(x, beta) == y`.

    Formula:
    ```
    softminus_inverse(y, beta) = y - log(-expm1(beta * y)) / beta
                               = -softplus_inverse(-y, beta)
    ```
    The second form is what is computed: negation is exact, so value and
    gradients have the accuracy of `softplus_inverse`. Defined for `y < 0`
    (0 maps to `+inf`, positive `y` to NaN).

    Args:
        y: negative floating-point tensor.
        beta: positive Python float or floating tensor broadcastable to `y`.

    Returns:
        A tensor of the dtype of `y`: the `x` with `softminus(x, beta) == y`.

    Example:

    >>> from keras_softplus import ops
    >>> ops.softminus_inverse([-50.0, -1.0, -0.1]).numpy()
    array([-50. , -0.5413..., 2.2521...], dtype=float32)
    >>> ops.softminus(ops.softminus_inverse([-1.0, -0.1])).numpy()
    array([-1. , -0.1], dtype=float32)

    Reference:
    - [Dugas et al., 2001](https://proceedings.neurips.cc/paper/2000/hash/44968aece94f667e4095002d140b5896-Abstract.html)
    """
    return _run(_execution.softminus_inverse, y, beta, "y")


def float32_only():
    """A scope in which the softplus family computes float32 in float32 only.

    By default, float32 inputs are computed with float64 arithmetic where
    it helps (`beta*x` is exact in float64), and an uncompiled TensorFlow
    graph runs the kernel as an XLA launch of its own. Graphs traced within
    this scope hold neither: only float32 operations, inline, which is what
    the LiteRT converter's builtin op set accepts. The results stay within
    the same bounds (4 ulp for the values and d/dx, 16 ulp for d/dbeta in
    float32, against 50-digit mpmath): `beta*x` is then carried as an
    exact sum of two float32 numbers. On large tensors, where the caller
    is not compiled with XLA, this path is slower (6 to 8 times at 2**20
    elements). Other dtypes are unaffected. The scope is process-wide:
    while it is active, it applies to every thread.

    Returns:
        A context manager. Functions traced within it (for example by
        `model.export`) keep its effect when called later.

    Example:

    >>> import keras_softplus
    >>> with keras_softplus.ops.float32_only():
    ...     y = keras_softplus.ops.softplus([-1.0, 0.0, 2.0], beta=2.0)
    >>> y.numpy()
    array([0.0634..., 0.3465..., 2.0090...], dtype=float32)

    To convert a model to LiteRT, export it within the scope:

    ```python
    with keras_softplus.ops.float32_only():
        model.export("exported", format="tf_saved_model")
    converter = tf.lite.TFLiteConverter.from_saved_model("exported")
    ```
    """
    return _execution.float32_only()


__all__ = [
    "counts",
    "float32_only",
    "gamma",
    "negative_binomial",
    "normal",
    "parameters",
    "poisson",
    "softminus",
    "softminus_inverse",
    "softplus",
    "softplus_inverse",
    "special",
    "student_t",
    "support",
]
