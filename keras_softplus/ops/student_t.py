"""The Student-t distribution of a `StudentTHead` output: split, NLL, CRPS.

`keras_softplus.losses.StudentTNLL` and its metric wrap these functions;
`keras_softplus.distributions.as_student_t` builds the TFP distribution.
Written with `keras.ops`, so every backend runs them, and none needs
TensorFlow Probability.
"""

import math

import keras
import numpy as np

from keras_softplus.ops.gamma import stirling_error
from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import split_parameters

# Steps of the continued fraction of the incomplete beta function.
CF_TERMS = 32


def split_student_t_params(y_pred):
    """Splits a `StudentTHead` output `(..., 3*units)` into `(loc, scale, df)`.

    Formula:
    ```
    loc   = y_pred[..., :units]
    scale = y_pred[..., units:2*units]
    df    = y_pred[..., 2*units:]      units = y_pred.shape[-1] // 3
    ```

    Args:
        y_pred: tensor or array of shape `(..., 3*units)`.

    Returns:
        A tuple `(loc, scale, df)` of tensors of shape `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.student_t import split_student_t_params
    >>> loc, scale, df = split_student_t_params(np.array([[0.0, 2.0, 5.0]]))
    >>> float(loc[0, 0]), float(scale[0, 0]), float(df[0, 0])
    (0.0, 2.0, 5.0)
    """
    return split_parameters(y_pred, ("loc", "scale", "df"), "StudentTHead")


def student_t_stddev(y_pred):
    """The standard deviation `scale * sqrt(df / (df - 2))`, `(..., units)`.

    Finite for `df > 2`, which `StudentTHead` guarantees.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.student_t import student_t_stddev
    >>> student_t_stddev(np.array([[0.0, 1.0, 4.0]], "float32")).numpy()
    array([[1.4142135]], dtype=float32)
    """
    _, scale, df = split_student_t_params(y_pred)
    return scale * keras.ops.sqrt(df / (df - 2.0))


def _log1p_square(t):
    """`log1p(t**2)` without overflow: `2*log|t| + log1p(1/t**2)` for |t| > 1.

    Each branch is computed on `|t|` clipped into its range, so neither
    overflows (`t**2` would above 1.8e19 in float32) nor divides by 0.
    """
    t = keras.ops.abs(t)
    large = t > 1.0
    t_large = keras.ops.where(large, t, keras.ops.ones_like(t))
    t_small = keras.ops.where(large, keras.ops.ones_like(t), t)
    return keras.ops.where(
        large,
        2.0 * keras.ops.log(t_large) + keras.ops.log1p(1.0 / keras.ops.square(t_large)),
        keras.ops.log1p(keras.ops.square(t_small)),
    )


def student_t_nll(y_true, y_pred):
    """Per-sample negative log-likelihood of a `StudentTHead` output.

    Summed over the `units` axis; equals `-as_student_t(y_pred).log_prob(y_true)`
    (summed over the unit axis when `units == 1`).

    Formula:
    ```
    z   = (y - loc) / scale,  a = df / 2
    nll = log(scale) + log(df*pi)/2 + lgamma(a) - lgamma(a + 1/2)
          + (df + 1)/2 * log1p(z**2 / df)
        = log(scale) + log(2*pi)/2 + 1/2 - a*log1p(1/(2a))
          + stirling_error(a) - stirling_error(a + 1/2)
          + (df + 1)/2 * log1p(z**2 / df)
    ```
    The second form is computed: `lgamma(a) - lgamma(a + 1/2)` as a
    difference of two log-gammas would lose all float32 digits for large
    `df` (each is 1e7 at df = 2e6); here every term is O(1). `log1p(z**2/df)`
    is formed from `|z|/sqrt(df)` without squaring large values, so scales at
    the floor and outliers 1e4 scales away (or 1e18) give finite values and
    gradients.

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `StudentTHead` output, `(..., 3*units)`.

    Returns:
        A tensor of shape `(...)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.student_t import student_t_nll
    >>> student_t_nll(np.array([[0.0], [10.0]], "float32"),
    ...               np.array([[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]], "float32")).numpy()
    array([1.0008..., 8.0731...], dtype=float32)

    Reference:
    - [Lange et al., 1989](https://doi.org/10.1080/01621459.1989.10478852)
    """
    loc, scale, df = split_student_t_params(y_pred)
    y_true = align_targets(y_true, loc)
    t = (y_true - loc) / (scale * keras.ops.sqrt(df))
    normalizer = (
        keras.ops.log(scale)
        + 0.5 * keras.ops.log(math.pi * df)
        - log_gamma_half_step(0.5 * df)
    )
    tail = 0.5 * (df + 1.0) * _log1p_square(t)
    return keras.ops.sum(normalizer + tail, axis=-1)


def log_gamma_half_step(b):
    """`lgamma(b + 1/2) - lgamma(b)` for `b > 0`, without cancellation.

    Formula:
    ```
    lgamma(b + 1/2) - lgamma(b)
        = b*log1p(1/(2b)) + log(b)/2 - 1/2 + stirling_error(b + 1/2)
          - stirling_error(b)
    ```
    (from `lgamma(x) = (x - 1/2)*log(x) - x + log(2*pi)/2 +
    stirling_error(x)`). As a difference of two log-gammas it would lose
    every float32 digit for large `b` (each is 1e7 at b = 1e6); here every
    term is O(1) or `log(b)/2`.

    Args:
        b: positive floats, a tensor or a Python number.

    Returns:
        `lgamma(b + 1/2) - lgamma(b)`, in the dtype of `b`.

    Example:

    >>> from keras_softplus.ops.student_t import log_gamma_half_step
    >>> float(log_gamma_half_step(1.0))  # log(Gamma(1.5)) = log(sqrt(pi)/2)
    -0.12078...
    """
    b = keras.ops.convert_to_tensor(b)
    return (
        b * keras.ops.log1p(0.5 / b)
        + 0.5 * keras.ops.log(b)
        - 0.5
        + stirling_error(b + 0.5)
        - stirling_error(b)
    )


def _log_beta_half(b):
    """`log(Beta(1/2, b)) = log(pi)/2 - log_gamma_half_step(b)`."""
    return 0.5 * math.log(math.pi) - log_gamma_half_step(b)


def _incomplete_beta_half(t_abs, b):
    """`I_x(1/2, b)`, the regularized incomplete beta function at
    `x = t**2 / (1 + t**2)`, from `|t|`: `2*F(z) - 1` of a Student-t with
    `df = 2b` at `z = |t|*sqrt(df)`.

    Formula (continued fraction, Numerical Recipes' `betacf`, modified
    Lentz):
    ```
    front = exp(a*log(x) + b*log(1 - x) - log(Beta(a, b)))      a = 1/2
    I_x(a, b) = front * cf(a, b, x) / a         x < (a + 1)/(a + b + 2)
              = 1 - front * cf(b, a, 1 - x) / b  otherwise
    log(x) = 2*log|t| - log1p(t**2),  log(1 - x) = -log1p(t**2)
    ```
    `x` and `1 - x` are formed from `t`, neither by subtracting from 1, and
    `front` in logs with `log_gamma_half_step`, so large `b` loses no
    digits. On the side of the switch where it is evaluated the fraction
    converges fast: CF_TERMS = 32 steps give 1e-14 absolute in float64 for
    `df` from 2 to 3e5 (against `scipy.special.betainc`). `|t|` is clipped
    to `[tiny, 1/eps]`, beyond which `I` is 0 or 1 to the dtype.
    """
    dtype = keras.backend.standardize_dtype(t_abs.dtype)
    info = np.finfo(dtype)
    t_abs = keras.ops.clip(t_abs, float(info.tiny), 1.0 / float(info.eps))
    log1p_t2 = _log1p_square(t_abs)
    log_x = 2.0 * keras.ops.log(t_abs) - log1p_t2
    x = keras.ops.exp(log_x)
    one_minus_x = keras.ops.exp(-log1p_t2)
    a = keras.ops.full_like(b, 0.5)
    front = keras.ops.exp(a * log_x - b * log1p_t2 - _log_beta_half(b))
    direct = x < (a + 1.0) / (a + b + 2.0)
    p = keras.ops.where(direct, a, b)
    q = keras.ops.where(direct, b, a)
    w = keras.ops.where(direct, x, one_minus_x)
    fraction = _beta_continued_fraction(p, q, w, float(info.tiny))
    return keras.ops.where(direct, front * fraction / a, 1.0 - front * fraction / b)


def _beta_continued_fraction(p, q, w, tiny):
    """The continued fraction of `I_w(p, q)`, CF_TERMS steps of modified
    Lentz; `tiny` replaces a zero denominator (Lentz's guard)."""

    def guarded(value):
        return keras.ops.where(keras.ops.abs(value) < tiny, tiny, value)

    def step(m, state):
        c, d, h = state
        m = keras.ops.cast(m, p.dtype)
        even = m * (q - m) * w / ((p - 1.0 + 2.0 * m) * (p + 2.0 * m))
        d = 1.0 / guarded(1.0 + even * d)
        c = guarded(1.0 + even / c)
        h = h * d * c
        odd = -(p + m) * (p + q + m) * w / ((p + 2.0 * m) * (p + 1.0 + 2.0 * m))
        d = 1.0 / guarded(1.0 + odd * d)
        c = guarded(1.0 + odd / c)
        return c, d, h * d * c

    d = 1.0 / guarded(1.0 - (p + q) * w / (p + 1.0))
    _, _, h = keras.ops.fori_loop(1, CF_TERMS + 1, step, (keras.ops.ones_like(p), d, d))
    return h


def student_t_crps(y_true, y_pred):
    """Per-sample closed-form CRPS of a `StudentTHead` output, mean over units.

    The continuous ranked probability score (lower is better, in the units
    of `y_true`); it tends to the Normal's as `df` grows. Defined for
    `df > 1`; `StudentTHead` keeps `df > 2`.

    Formula:
    ```
    z = (y - loc) / scale
    CRPS = scale * (z*(2*F(z) - 1) + 2*f(z)*(df + z**2)/(df - 1)
                    - 2*sqrt(df)*B(1/2, df - 1/2) / ((df - 1)*B(1/2, df/2)**2))
    2*F(z) - 1 = sign(z) * I_{z**2/(df + z**2)}(1/2, df/2)
    ```
    `F`, `f`: the standard Student-t CDF and density; `B`: the beta
    function, in logs with `log_gamma_half_step`. `I` is the regularized
    incomplete beta function, which `keras.ops` lacks; it is computed by its
    continued fraction (`_incomplete_beta_half`).

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `StudentTHead` output, `(..., 3*units)`.

    Returns:
        The per-sample CRPS, `(...)`, in the units of `y_true`.

    Example:

    A target half a scale from the loc, with `df = 3`:

    >>> from keras_softplus.ops.student_t import student_t_crps
    >>> float(student_t_crps([[0.5]], [[0.0, 1.0, 3.0]])[0])
    0.3651...

    Reference:
    - [Jordan et al., 2019](https://doi.org/10.18637/jss.v090.i12),
      scoringRules.
    """
    loc, scale, df = split_student_t_params(y_pred)
    y_true = align_targets(y_true, loc)
    t = (y_true - loc) / (scale * keras.ops.sqrt(df))
    z = t * keras.ops.sqrt(df)
    half_df = 0.5 * df
    two_cdf_minus_one = keras.ops.sign(t) * _incomplete_beta_half(
        keras.ops.abs(t), half_df
    )
    # f(z)*(df + z**2)/(df - 1), in logs: log f(z) = -log(sqrt(df)*B(1/2, df/2))
    # - (df + 1)/2 * log1p(t**2), and df + z**2 = df*(1 + t**2).
    log1p_t2 = _log1p_square(t)
    log_density_term = (
        -0.5 * keras.ops.log(df)
        - _log_beta_half(half_df)
        - 0.5 * (df + 1.0) * log1p_t2
        + keras.ops.log(df)
        + log1p_t2
        - keras.ops.log(df - 1.0)
    )
    log_constant = (
        math.log(2.0)
        + 0.5 * keras.ops.log(df)
        + _log_beta_half(df - 0.5)
        - keras.ops.log(df - 1.0)
        - 2.0 * _log_beta_half(half_df)
    )
    crps = scale * (
        z * two_cdf_minus_one
        + 2.0 * keras.ops.exp(log_density_term)
        - keras.ops.exp(log_constant)
    )
    return keras.ops.mean(crps, axis=-1)


__all__ = [
    "log_gamma_half_step",
    "split_student_t_params",
    "student_t_crps",
    "student_t_nll",
    "student_t_stddev",
]
