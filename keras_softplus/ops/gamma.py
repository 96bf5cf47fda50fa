"""The Gamma distribution of a `GammaHead` output, and the log-gamma function.

`keras.ops` has no `lgamma`, so this module also owns the log-gamma function
of the package's count and Gamma likelihoods, in the split form that keeps
their differences exact:

- `stirling_error(x) = lgamma(x) - ((x - 1/2)*log(x) - x + log(2*pi)/2)`, a
  small positive number;
- `log_gamma(x)`, built on it;
- `saddle_point_deviance(x, m) = x*log(x/m) - x + m`, without cancellation
  near `x == m`.

With them, a likelihood at large arguments (counts of 1e4, Gamma shapes of
1e4) is a sum of O(1) terms instead of a difference of numbers 1e5 times
larger, which float32 would round away (Loader, 2000). Written with
`keras.ops`, so every backend runs them.
"""

import math

import keras
import numpy as np

from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import split_parameters

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
# Stirling's series of `stirling_error`, in 1/x**2: 1/12, -1/360, 1/1260,
# -1/1680, 1/1188, -691/360360. Used for x >= STIRLING_SHIFT, where the first
# omitted term, 1/156 / x**13, is below 1e-14 of the result.
STIRLING_COEFFICIENTS = (
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360360.0,
)
STIRLING_SHIFT = 8
# Terms k = 2..DEVIANCE_TERMS of the series of `saddle_point_deviance`.
DEVIANCE_TERMS = 13


def stirling_error(x):
    """The error of Stirling's formula for `log_gamma`, for `x > 0`.

    Formula:
    ```
    stirling_error(x) = lgamma(x) - ((x - 1/2)*log(x) - x + log(2*pi)/2)
                      = 1/(12 x) - 1/(360 x**3) + ...           x >= 8
                      = stirling_error(x + 8) + (x + 7.5)*log(x + 8)
                        - (x - 1/2)*log(x) - 8 - sum_{j<8} log(x + j)   x < 8
    ```
    The series is Stirling's (6 terms, truncation below 1e-14 relative for
    `x >= 8`); below 8 the recurrence `lgamma(x) = lgamma(x + 8) -
    log(x (x+1) ... (x+7))` shifts the argument up. Each branch is computed
    on an argument clipped into its own range, so the branch `where` does not
    select never sees a value that would overflow (no NaN in values or
    gradients). Accurate to a few ulp of `lgamma(x)` in float32, and to about
    1e-13 relative in float64.

    Args:
        x: positive floating-point tensor.

    Returns:
        A tensor of the dtype of `x`.

    Example:

    >>> from keras_softplus.ops.gamma import stirling_error
    >>> float(stirling_error(1.0))  # 1 - log(2*pi)/2
    0.0810614...
    """
    x = keras.ops.convert_to_tensor(x)
    large = x >= STIRLING_SHIFT
    # Series branch on x >= 8 only; small x are shifted up by 8.
    shifted = keras.ops.where(large, x, x + STIRLING_SHIFT)
    inverse_square = 1.0 / keras.ops.square(shifted)
    series = STIRLING_COEFFICIENTS[-1]
    for coefficient in reversed(STIRLING_COEFFICIENTS[:-1]):
        series = coefficient + inverse_square * series
    series = series / shifted
    # Recurrence branch on x < 8 only; large x are replaced by 1.
    small = keras.ops.where(large, keras.ops.ones_like(x), x)
    log_rising = keras.ops.log(small)
    for step in range(1, STIRLING_SHIFT):
        log_rising = log_rising + keras.ops.log(small + step)
    shift_correction = (
        (small + (STIRLING_SHIFT - 0.5)) * keras.ops.log(small + STIRLING_SHIFT)
        - (small - 0.5) * keras.ops.log(small)
        - STIRLING_SHIFT
        - log_rising
    )
    return keras.ops.where(large, series, series + shift_correction)


def log_gamma(x):
    """`log(Gamma(x))` for `x > 0`, with `keras.ops` (which has no lgamma).

    Formula:
    ```
    log_gamma(x) = (x - 1/2)*log(x) - x + log(2*pi)/2 + stirling_error(x)
    ```
    Accurate to a few ulp in float32 and about 1e-13 relative in float64 (see
    `stirling_error`); finite with finite gradients for every positive
    finite `x`.

    Args:
        x: positive floating-point tensor.

    Returns:
        A tensor of the dtype of `x`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import log_gamma
    >>> log_gamma(np.array([0.5, 10.0, 1e6])).numpy()  # log(sqrt(pi)), log(9!)
    array([5.72364943e-01, 1.28018275e+01, 1.28155046e+07])
    """
    x = keras.ops.convert_to_tensor(x)
    return (x - 0.5) * keras.ops.log(x) - x + HALF_LOG_TWO_PI + stirling_error(x)


def _deviance_series_threshold(dtype):
    """|delta| below which the deviance series (terms 2..DEVIANCE_TERMS) is
    exact to the dtype: the first omitted term, relative to the leading
    delta**2/2, is `2 |delta|**(K-1) / ((K+1) K)` with K = DEVIANCE_TERMS.
    0.39 for float32, 0.072 for float64."""
    eps = float(np.finfo(keras.backend.standardize_dtype(dtype)).eps)
    terms = DEVIANCE_TERMS
    return (eps * (terms + 1) * terms / 2.0) ** (1.0 / (terms - 1))


def saddle_point_deviance(x, m):
    """`x*log(x/m) - x + m` for `x >= 0`, `m > 0`, without cancellation.

    The deviance term of Loader's saddle-point form of the Poisson, negative
    binomial and Gamma likelihoods; `>= 0`, and 0 only at `x == m`.

    Formula:
    ```
    delta = (x - m) / m
    deviance = m * sum_{k=2..13} (-1)**k delta**k / (k (k-1))    |delta| < t
             = x*(log(x) - log(m)) - x + m                       otherwise
             = m                                                  x == 0
    ```
    Near `x == m` the direct form subtracts numbers of size `x` to get one of
    size `m delta**2/2`; the series has no cancellation. The threshold `t`
    makes the omitted terms fall below the dtype's eps (0.39 in float32,
    0.072 in float64), and where the direct form is used its relative error
    is `~2 eps/|delta|`. Each branch gets an argument clipped into its range,
    so unselected branches are finite (no NaN gradients through `where`).

    Args:
        x: non-negative floating-point tensor.
        m: positive floating-point tensor, broadcastable to `x`.

    Returns:
        A tensor of the broadcast shape.

    Example:

    >>> from keras_softplus.ops.gamma import saddle_point_deviance
    >>> float(saddle_point_deviance(1001.0, 1000.0))  # 1001*log(1.001) - 1
    0.000499833...
    """
    x = keras.ops.convert_to_tensor(x)
    m = keras.ops.cast(keras.ops.convert_to_tensor(m), x.dtype)
    delta = (x - m) / m
    near = keras.ops.abs(delta) < _deviance_series_threshold(x.dtype)
    # Series in delta, on |delta| < t only (other entries use delta = 0).
    d = keras.ops.where(near, delta, keras.ops.zeros_like(delta))
    series = keras.ops.zeros_like(d)
    for k in range(DEVIANCE_TERMS, 1, -1):  # Horner, from the last term
        series = (-1.0) ** k / (k * (k - 1)) + d * series
    series = m * keras.ops.square(d) * series
    # Direct form, on x > 0 only (x = 0 uses x = m, then the m of x == 0).
    positive = x > 0
    x_direct = keras.ops.where(positive, x, m)
    direct = x_direct * (keras.ops.log(x_direct) - keras.ops.log(m)) - x_direct + m
    direct = keras.ops.where(positive, direct, m)
    return keras.ops.where(near, series, direct)


def split_gamma_params(y_pred):
    """Splits a `GammaHead` output `(..., 2*units)` into `(concentration, rate)`.

    Formula:
    ```
    concentration = y_pred[..., :units]
    rate          = y_pred[..., units:]      units = y_pred.shape[-1] // 2
    ```

    Args:
        y_pred: tensor or array of shape `(..., 2*units)`.

    Returns:
        A tuple `(concentration, rate)` of tensors of shape `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import split_gamma_params
    >>> concentration, rate = split_gamma_params(np.array([[2.0, 0.5]]))
    >>> float(concentration[0, 0]), float(rate[0, 0])
    (2.0, 0.5)
    """
    return split_parameters(y_pred, ("concentration", "rate"), "GammaHead")


def gamma_mean(y_pred):
    """The mean `concentration / rate` of a `GammaHead` output, `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import gamma_mean
    >>> gamma_mean(np.array([[3.0, 2.0]], "float32")).numpy()
    array([[1.5]], dtype=float32)
    """
    concentration, rate = split_gamma_params(y_pred)
    return concentration / rate


def gamma_nll(y_true, y_pred):
    """Per-sample negative log-likelihood of a `GammaHead` output.

    Summed over the `units` axis; equals `-as_gamma(y_pred).log_prob(y_true)`
    (summed over the unit axis when `units == 1`). Targets must be `> 0`.

    Formula:
    ```
    nll = lgamma(a) - a*log(b) - (a - 1)*log(y) + b*y        a: concentration
        = saddle_point_deviance(a, b*y) + log(y)             b: rate
          + log(2*pi/a)/2 + stirling_error(a)
    ```
    The second form (Loader's) is what is computed: it has no difference of
    large terms, so float32 keeps its accuracy for concentrations of 1e4 and
    targets from 1e-8 to 1e8, and the gradients are finite there.

    A target `<= 0` is outside the support: eagerly (values known) it raises
    a ValueError; inside a compiled function, where values are unknown, it
    gives NaN.

    Args:
        y_true: positive targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `GammaHead` output, `(..., 2*units)`.

    Returns:
        A tensor of shape `(...)`.

    Raises:
        ValueError: for targets `<= 0` whose values are known.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import gamma_nll
    >>> gamma_nll(np.array([[1.0]], "float32"),
    ...           np.array([[1.0, 1.0]], "float32")).numpy()  # Exponential
    array([1.], dtype=float32)

    Reference:
    - [Loader, 2000](https://www.r-project.org/doc/reports/CLoader-dbinom-2002.pdf)
    """
    concentration, rate = split_gamma_params(y_pred)
    y_true = align_targets(y_true, concentration)
    check_support(y_true, "y_true", "> 0", lambda v: v > 0)
    y_safe = keras.ops.where(y_true > 0, y_true, keras.ops.ones_like(y_true))
    nan = keras.ops.full_like(y_true, float("nan"))
    nll = (
        saddle_point_deviance(concentration, rate * y_safe)
        + keras.ops.log(y_safe)
        + HALF_LOG_TWO_PI
        - 0.5 * keras.ops.log(concentration)
        + stirling_error(concentration)
    )
    return keras.ops.sum(keras.ops.where(y_true > 0, nll, nan), axis=-1)


def check_support(values, name, condition_text, condition):
    """ValueError when `values` are known (eager) and some fail `condition`.

    Inside a traced function the values are unknown and nothing is checked;
    the likelihoods then give NaN for targets outside their support.

    Args:
        values: a tensor.
        name: the argument's name, for the message.
        condition_text: the condition in words, e.g. `"> 0"`.
        condition: a NumPy predicate, elementwise.
    """
    try:
        array = keras.ops.convert_to_numpy(values)
    except Exception:  # Symbolic (traced): values unknown.
        return
    failing = ~condition(array)
    if np.any(failing):
        raise ValueError(
            f"`{name}` must be {condition_text} (the support of the "
            f"distribution). Received: {name} with values such as "
            f"{array[failing].ravel()[:3].tolist()}"
        )


__all__ = [
    "check_support",
    "gamma_mean",
    "gamma_nll",
    "log_gamma",
    "saddle_point_deviance",
    "split_gamma_params",
    "stirling_error",
]
