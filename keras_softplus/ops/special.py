"""Special functions shared by the distribution families.

`keras.ops` has no `lgamma` nor incomplete beta, so this module holds them,
in the split forms that keep the likelihoods' differences exact (Loader,
2000):

- `stirling_error`, `log_gamma`, `log_gamma_half_step`: log-gamma and
  Stirling's error, `lgamma(x) - ((x - 1/2)*log(x) - x + log(2*pi)/2)`;
- `saddle_point_deviance`: `x*log(x/m) - x + m` without cancellation;
- `log1p_square`, `log_beta_half`, `incomplete_beta_half`: the Student-t's
  `log1p(t**2)` and regularized incomplete beta `I_x(1/2, b)`;
- `normal_crps`: the CRPS of a Normal, which the Normal and the large-`df`
  Student-t share.

With them, a likelihood at large arguments (counts of 1e4, Gamma shapes of
1e4) is a sum of O(1) terms instead of a difference of numbers 1e5 times
larger, which float32 would round away. Written with `keras.ops`, so every
backend runs them. The count series are in `counts`, the support checks in
`support`.
"""

import functools
import math

import keras
import numpy as np

from keras_softplus.ops._constants import HALF_LOG_TWO_PI
from keras_softplus.ops._constants import INV_SQRT_PI
from keras_softplus.ops._constants import INV_SQRT_TWO
from keras_softplus.ops._constants import INV_SQRT_TWO_PI

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


def saddle_point_deviance(x, m, log_m=None):
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
    is `~2 eps/|delta|`. Each branch gets an argument clipped into its range
    (the series `m = 1` away from `x == m`, the direct form `x = m` at
    `x == 0`), so an unselected branch never forms an infinite derivative
    such as `d(delta)/dm = -x/m**2` at `m = 1e-21`: no NaN gradients
    through `where`.

    Args:
        x: non-negative floating-point tensor.
        m: positive floating-point tensor, broadcastable to `x`.
        log_m: `log(m)`, when the caller has it more exactly than `m` (a
            product `m = b*y` that may underflow has `log(b) + log(y)`).

    Returns:
        A tensor of the broadcast shape.

    Example:

    >>> from keras_softplus.ops.special import saddle_point_deviance
    >>> float(saddle_point_deviance(1001.0, 1000.0))  # 1001*log(1.001) - 1
    0.000499833...
    """
    x = keras.ops.convert_to_tensor(x)
    m = keras.ops.cast(keras.ops.convert_to_tensor(m), x.dtype)
    if log_m is None:
        log_m = keras.ops.log(m)
    near = keras.ops.abs(x - m) < _deviance_series_threshold(x.dtype) * m
    # Series in delta, on |delta| < t only (elsewhere m = 1 and delta = 0).
    m_near = keras.ops.where(near, m, keras.ops.ones_like(m))
    d = keras.ops.where(near, (x - m_near) / m_near, keras.ops.zeros_like(m))
    series = keras.ops.zeros_like(d)
    for k in range(DEVIANCE_TERMS, 1, -1):  # Horner, from the last term
        series = (-1.0) ** k / (k * (k - 1)) + d * series
    series = m * keras.ops.square(d) * series
    # Direct form, on x > 0 only (x = 0 uses x = m, then the m of x == 0).
    positive = x > 0
    x_direct = keras.ops.where(positive, x, m)
    direct = x_direct * (keras.ops.log(x_direct) - log_m) - x_direct + m
    direct = keras.ops.where(positive, direct, m)
    return keras.ops.where(near, series, direct)


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


def normal_crps(error, scale):
    """The CRPS of a centred Normal of `scale` at `error = y - loc`.

    Formula:
    ```
    z = error / scale
    CRPS = scale * (z*erf(z/sqrt(2)) + 2*phi(z) - 1/sqrt(pi))   |z| <= z_tail
         = |error| - scale/sqrt(pi)                            |z| > z_tail
    ```
    `z*(2*Phi(z) - 1)` is `z*erf(z/sqrt(2))`, which keeps its relative
    accuracy near 0, where `2*Phi(z) - 1` would cancel. Beyond `z_tail`,
    where `2*phi(z)/z**2` (the first term the tail form omits) is below
    `eps/4` of `|z|`, the tail form holds to the dtype: 5.0 in float32, 7.9
    in float64. It is written in `error` and `scale`, not `z`, so its
    gradients (`sign(error)`, `-1/sqrt(pi)`) never pass through `dz/dscale =
    -z/scale`, which overflows at scales of 1e-30. The central branch is
    computed on `scale = 1, error = 0` where it is not taken.

    Args:
        error: `y - loc`, a floating-point tensor.
        scale: the positive scale, broadcastable to `error`.

    Returns:
        A tensor of the broadcast shape.

    Example:

    >>> from keras_softplus.ops.special import normal_crps
    >>> float(normal_crps(0.0, 1.0))  # (sqrt(2) - 1) / sqrt(pi)
    0.2336...
    """
    error = keras.ops.convert_to_tensor(error)
    scale = keras.ops.cast(scale, error.dtype)
    far = (
        keras.ops.abs(error)
        > normal_crps_tail(keras.backend.standardize_dtype(error.dtype)) * scale
    )
    scale_near = keras.ops.where(far, keras.ops.ones_like(scale), scale)
    z = keras.ops.where(far, keras.ops.zeros_like(error), error) / scale_near
    central = scale_near * (
        z * keras.ops.erf(z * INV_SQRT_TWO)
        + 2.0 * INV_SQRT_TWO_PI * keras.ops.exp(-0.5 * keras.ops.square(z))
        - INV_SQRT_PI
    )
    return keras.ops.where(far, keras.ops.abs(error) - scale * INV_SQRT_PI, central)


@functools.cache
def normal_crps_tail(dtype):
    """The `|z|` beyond which `2*phi(z)/z**2 < eps/4 * |z|`: there the
    standard Normal CRPS is `|z| - 1/sqrt(pi)` to the dtype."""
    eps = float(np.finfo(dtype).eps)
    z = 1.0
    while 2.0 * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / z**3 >= eps / 4:
        z += 0.1
    return z


__all__ = [
    "beta_continued_fraction",
    "incomplete_beta_half",
    "log1p_square",
    "log_beta_half",
    "log_gamma",
    "log_gamma_half_step",
    "normal_crps",
    "saddle_point_deviance",
    "stirling_error",
]
