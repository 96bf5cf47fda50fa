"""The series of the count distributions (Poisson, negative binomial):
Loader's normalizer, the NLL over units and the CRPS over a window of the
support. Written with `keras.ops`, so every backend runs them.
"""

import keras
import numpy as np

from keras_softplus.ops._constants import HALF_LOG_TWO_PI
from keras_softplus.ops._execution import cumulative_sum
from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import mean_over_units
from keras_softplus.ops.special import stirling_error
from keras_softplus.ops.support import is_count
from keras_softplus.ops.support import supported

COUNT_SUPPORT_TEXT = "a non-negative integer count"

# The window of the CRPS series starts this many standard deviations below
# the mean (or half the window, if less): the mass below is then < 1e-15.
WINDOW_STANDARD_DEVIATIONS = 8.0

# The CRPS is NaN where the window misses more than eps**(2/3)/4 of the
# mass: its error, about 4 times that mass relative to the CRPS, stays below
# 3e-5 in float32 and 5e-11 in float64.
MISSING_MASS_FACTOR = 0.25


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

    >>> from keras_softplus.ops.counts import count_log_normalizer
    >>> float(count_log_normalizer(1.0))  # lgamma(2) - 0 + 1
    1.0
    """
    positive = y > 0
    y_safe = keras.ops.where(positive, y, keras.ops.ones_like(y))
    value = HALF_LOG_TWO_PI + 0.5 * keras.ops.log(y_safe) + stirling_error(y_safe)
    return keras.ops.where(positive, value, keras.ops.zeros_like(y))


def supported_counts(y_true, like):
    """`(counts, valid)`: the targets aligned with `like`, with 0 where they
    are not counts, and the mask of valid counts. Known targets that are
    not counts (negative, fractional, infinite) raise a ValueError."""
    y_true = align_targets(y_true, like)
    valid = supported(y_true, "y_true", COUNT_SUPPORT_TEXT, is_count)
    return keras.ops.where(valid, y_true, keras.ops.zeros_like(y_true)), valid


def count_nll(y_true, like, log_pmf):
    """`-log_pmf(y_true)` summed over units, for counts shaped like `like`.

    Aligns the targets with the parameter tensor `like` and checks their
    support: a ValueError naming `y_true` for known targets that are not
    counts (negative, fractional or infinite), NaN for those only known at
    run time. `log_pmf` only ever sees counts.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        like: a parameter tensor `(..., units)` of the head.
        log_pmf: the elementwise log-probability of counts `>= 0`.

    Returns:
        A tensor of shape `(...)`.
    """
    counts, valid = supported_counts(y_true, like)
    nll = -log_pmf(counts)
    nll = keras.ops.where(valid, nll, keras.ops.full_like(nll, float("nan")))
    return keras.ops.sum(nll, axis=-1)


def count_crps(y_true, like, log_pmf, mean, variance, support_size):
    """CRPS of a count distribution by its series over a window, mean over
    units.

    Formula:
    ```
    CRPS(F, y) = sum_{k >= 0} (F(k) - 1{y <= k})**2
               = sum_{s <= k < s+K} (F(k) - 1{y <= k})**2
                 + max(s - y, 0) + max(y - s - K, 0)
    s = floor(max(0, mean - min(8*sd, K/2))),  K = support_size
    ```
    with `F(k) = sum_{s <= j <= k} exp(log_pmf(j))`. Below the window `F`
    is 0 and above it 1, to the mass the window misses, so each count
    outside contributes 1 or 0. Where that mass exceeds `eps**(2/3)/4` of
    the dtype (a window too narrow for the predicted spread; an error of
    about 2e-5 of the CRPS in float32), or the window passes the counts the
    dtype holds exactly (2**24 in float32), the CRPS is NaN: a larger
    `support_size` is needed. A window of 1000 counts covers Poisson rates
    up to about 1.2e4 in float32 (5.4e3 in float64). Each squared term is
    formed from `F(k)` or `1 - F(k)` (summed from above), whichever is below
    1/2, so that far from the mean neither the value nor the gradient
    cancels.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`; checked
            as by `count_nll`.
        like: a parameter tensor `(..., units)` of the head.
        log_pmf: `log_pmf(k)` for counts `k` of shape `(K, ..., units)`.
        mean: the predicted mean, `(..., units)`.
        variance: the predicted variance, `(..., units)`.
        support_size: `K`, a positive Python int.

    Returns:
        A tensor of shape `(...)`.
    """
    counts, valid = supported_counts(y_true, like)
    dtype = keras.backend.standardize_dtype(counts.dtype)
    info = np.finfo(dtype)
    reach = keras.ops.minimum(
        WINDOW_STANDARD_DEVIATIONS * keras.ops.sqrt(variance), support_size / 2.0
    )
    start = keras.ops.stop_gradient(
        keras.ops.floor(keras.ops.maximum(mean - reach, 0.0))
    )
    # Integer offsets, then exact float counts below 2**(nmant + 1).
    offsets = keras.ops.cast(keras.ops.arange(support_size, dtype="int32"), dtype)
    offsets = keras.ops.reshape(offsets, (support_size,) + (1,) * len(counts.shape))
    k = start + offsets
    pmf = keras.ops.exp(log_pmf(k))
    # F(k) from below and S(k) = 1 - F(k) from above; each squared term is
    # formed from the one below 1/2, so neither its value nor its gradient
    # subtracts numbers near 1 (F**2 as (1 - S)**2 where F >= 1/2).
    cdf = cumulative_sum(pmf, 0)
    survival = keras.ops.flip(cumulative_sum(keras.ops.flip(pmf, 0), 0), 0) - pmf
    below = keras.ops.where(
        cdf < 0.5, keras.ops.square(cdf), keras.ops.square(1.0 - survival)
    )
    above = keras.ops.where(
        survival < 0.5, keras.ops.square(survival), keras.ops.square(1.0 - cdf)
    )
    series = keras.ops.sum(keras.ops.where(counts > k, below, above), axis=0)
    outside = keras.ops.maximum(start - counts, 0.0) + keras.ops.maximum(
        counts - start - support_size, 0.0
    )
    covered = keras.ops.abs(1.0 - cdf[-1]) <= MISSING_MASS_FACTOR * float(info.eps) ** (
        2.0 / 3.0
    )
    exact = start + support_size <= 2.0 ** (info.nmant + 1)
    crps = keras.ops.where(
        valid & covered & exact, series + outside, keras.ops.full_like(series, np.nan)
    )
    return mean_over_units(crps)


__all__ = ["count_crps", "count_log_normalizer", "count_nll", "supported_counts"]
