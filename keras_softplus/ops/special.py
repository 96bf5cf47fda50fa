"""Special functions shared by the distribution families.

`keras.ops` has no `lgamma` nor incomplete beta, so this module holds them,
in the split forms that keep the likelihoods' differences exact (Loader,
2000):

- `stirling_error`, `log_gamma`, `log_gamma_half_step`: log-gamma and
  Stirling's error, `lgamma(x) - ((x - 1/2)*log(x) - x + log(2*pi)/2)`;
- `saddle_point_deviance`: `x*log(x/m) - x + m` without cancellation;
- `log1p_square`, `log_beta_half`, `incomplete_beta_half`: the Student-t's
  `log1p(t**2)` and regularized incomplete beta `I_x(1/2, b)`;
- `count_log_normalizer`, `count_nll`, `count_crps`: the series of count
  distributions;
- `check_support`, `is_count`: the support checks of the likelihoods.

With them, a likelihood at large arguments (counts of 1e4, Gamma shapes of
1e4) is a sum of O(1) terms instead of a difference of numbers 1e5 times
larger, which float32 would round away. Written with `keras.ops`, so every
backend runs them.
"""

import math

import keras
import numpy as np

from keras_softplus.ops._constants import HALF_LOG_TWO_PI
from keras_softplus.ops._execution import known_value
from keras_softplus.ops.parameters import align_targets

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


# Steps of the continued fraction of the incomplete beta function.
CF_TERMS = 32


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

    >>> from keras_softplus.ops.special import stirling_error
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
    >>> from keras_softplus.ops.special import log_gamma
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

    >>> from keras_softplus.ops.special import saddle_point_deviance
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
    array = known_value(values)
    if array is None:  # Symbolic (traced): values unknown.
        return
    failing = ~condition(array)
    if np.any(failing):
        raise ValueError(
            f"`{name}` must be {condition_text} (the support of the "
            f"distribution). Received: {name} with values such as "
            f"{array[failing].ravel()[:3].tolist()}"
        )


def log1p_square(t):
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

    >>> from keras_softplus.ops.special import log_gamma_half_step
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


def log_beta_half(b):
    """`log(Beta(1/2, b)) = log(pi)/2 - log_gamma_half_step(b)`."""
    return 0.5 * math.log(math.pi) - log_gamma_half_step(b)


def incomplete_beta_half(t_abs, b):
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
    log1p_t2 = log1p_square(t_abs)
    log_x = 2.0 * keras.ops.log(t_abs) - log1p_t2
    x = keras.ops.exp(log_x)
    one_minus_x = keras.ops.exp(-log1p_t2)
    a = keras.ops.full_like(b, 0.5)
    front = keras.ops.exp(a * log_x - b * log1p_t2 - log_beta_half(b))
    direct = x < (a + 1.0) / (a + b + 2.0)
    p = keras.ops.where(direct, a, b)
    q = keras.ops.where(direct, b, a)
    w = keras.ops.where(direct, x, one_minus_x)
    fraction = beta_continued_fraction(p, q, w, float(info.tiny))
    return keras.ops.where(direct, front * fraction / a, 1.0 - front * fraction / b)


def beta_continued_fraction(p, q, w, tiny):
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


def is_count(values):
    """NumPy predicate of a valid count: `>= 0` and an integer."""
    return (values >= 0) & (values == values.round())


def count_log_normalizer(y):
    """`lgamma(y + 1) - y*log(y) + y` for counts `y >= 0`, in Loader's form.

    Formula:
    ```
    count_log_normalizer(y) = log(2*pi*y)/2 + stirling_error(y)   y >= 1
                            = 0                                  y == 0
    ```
    So `lgamma(y + 1) = y*log(y) - y + count_log_normalizer(y)`, and a
    likelihood written with `saddle_point_deviance` never forms
    `lgamma(y + 1)` (1e5 for y = 1e4) to subtract it again. `y == 0` is
    computed on `y = 1` and replaced, so no log(0) reaches the gradient.

    Args:
        y: tensor of non-negative counts (floating dtype).

    Returns:
        A tensor of the dtype and shape of `y`.

    Example:

    >>> from keras_softplus.ops.special import count_log_normalizer
    >>> float(count_log_normalizer(1.0))  # lgamma(2) - 0 + 1
    1.0
    """
    positive = y > 0
    y_safe = keras.ops.where(positive, y, keras.ops.ones_like(y))
    value = HALF_LOG_TWO_PI + 0.5 * keras.ops.log(y_safe) + stirling_error(y_safe)
    return keras.ops.where(positive, value, keras.ops.zeros_like(y))


def count_nll(y_true, like, log_pmf):
    """`-log_pmf(y_true)` summed over units, for counts shaped like `like`.

    Aligns the targets with the parameter tensor `like`, checks the support
    where values are known (ValueError naming `y_true` for negative or
    non-integer counts), and gives NaN for negative counts where they are
    not known; `log_pmf` only ever sees counts `>= 0`.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        like: a parameter tensor `(..., units)` of the head.
        log_pmf: the elementwise log-probability of counts `>= 0`.

    Returns:
        A tensor of shape `(...)`.
    """
    y_true = align_targets(y_true, like)
    check_support(y_true, "y_true", "a non-negative integer count", is_count)
    valid = y_true >= 0
    y_safe = keras.ops.where(valid, y_true, keras.ops.zeros_like(y_true))
    nll = -log_pmf(y_safe)
    nll = keras.ops.where(valid, nll, keras.ops.full_like(nll, float("nan")))
    return keras.ops.sum(nll, axis=-1)


def count_crps(y_true, like, log_pmf, support_size):
    """CRPS of a count distribution by its series, mean over units.

    Formula:
    ```
    CRPS(F, y) = sum_{k >= 0} (F(k) - 1{y <= k})**2
               ~ sum_{k < K} (F(k) - 1{y <= k})**2 + max(y - K, 0)
    ```
    with `F(k) = sum_{j <= k} exp(log_pmf(j))` and `K = support_size`. The
    tail beyond `K` counts 1 per `k` in `[K, y)`, exact when the predictive
    mass beyond `K - 1` is negligible; `K` must cover the predictive
    distribution (its mean plus several standard deviations).

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`; checked
            as by `count_nll`.
        like: a parameter tensor `(..., units)` of the head.
        log_pmf: `log_pmf(k)` for `k` of shape `(K, 1, ..., 1)`, returning
            the log-probabilities `(K, ..., units)`.
        support_size: `K`, a positive Python int.

    Returns:
        A tensor of shape `(...)`.
    """
    y_true = align_targets(y_true, like)
    check_support(y_true, "y_true", "a non-negative integer count", is_count)
    k = keras.ops.arange(support_size, dtype=y_true.dtype)
    k = keras.ops.reshape(k, (support_size,) + (1,) * len(y_true.shape))
    cdf = keras.ops.minimum(keras.ops.cumsum(keras.ops.exp(log_pmf(k)), axis=0), 1.0)
    step = keras.ops.cast(y_true <= k, y_true.dtype)
    series = keras.ops.sum(keras.ops.square(cdf - step), axis=0)
    crps = series + keras.ops.maximum(y_true - support_size, 0.0)
    return keras.ops.mean(crps, axis=-1)


__all__ = [
    "beta_continued_fraction",
    "check_support",
    "count_crps",
    "count_log_normalizer",
    "count_nll",
    "incomplete_beta_half",
    "is_count",
    "log1p_square",
    "log_beta_half",
    "log_gamma",
    "log_gamma_half_step",
    "saddle_point_deviance",
    "stirling_error",
]
