"""The negative binomial of a `NegativeBinomialHead` output: split, NLL, CRPS.

Parameterised by its mean and its `total_count` (the dispersion `r`):
`variance = mean + mean**2 / total_count`, the Poisson as `total_count`
grows. `keras_softplus.losses.NegativeBinomialNLL` and the metrics wrap
these functions; `keras_softplus.distributions.as_negative_binomial` builds
the TFP distribution. Written with `keras.ops`, so every backend runs them,
and none needs TensorFlow Probability.
"""

import keras

from keras_softplus.ops._validation import support_size_argument
from keras_softplus.ops.counts import count_crps
from keras_softplus.ops.counts import count_log_normalizer
from keras_softplus.ops.counts import count_nll
from keras_softplus.ops.parameters import NEGATIVE_BINOMIAL_PARAMETERS
from keras_softplus.ops.parameters import split_parameters
from keras_softplus.ops.special import saddle_point_deviance
from keras_softplus.ops.special import stirling_error


def split_negative_binomial_params(y_pred):
    """Splits a `NegativeBinomialHead` output into `(mean, total_count)`.

    Formula:
    ```
    mean        = y_pred[..., :units]
    total_count = y_pred[..., units:]      units = y_pred.shape[-1] // 2
    ```

    Args:
        y_pred: tensor or array of shape `(..., 2*units)`.

    Returns:
        A tuple `(mean, total_count)` of tensors of shape `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.negative_binomial import (
    ...     split_negative_binomial_params)
    >>> mean, total_count = split_negative_binomial_params(
    ...     np.array([[4.0, 2.0]], "float32"))
    >>> float(mean[0, 0]), float(total_count[0, 0])
    (4.0, 2.0)
    """
    return split_parameters(
        y_pred, NEGATIVE_BINOMIAL_PARAMETERS, "NegativeBinomialHead"
    )


def negative_binomial_variance(y_pred):
    """The variance `mean + mean**2 / total_count`, `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.negative_binomial import (
    ...     negative_binomial_variance)
    >>> negative_binomial_variance(np.array([[4.0, 2.0]], "float32")).numpy()
    array([[12.]], dtype=float32)
    """
    mean, total_count = split_negative_binomial_params(y_pred)
    return mean + keras.ops.square(mean) / total_count


def negative_binomial_log_pmf(y, mean, total_count):
    """`log p(y)` of a negative binomial for counts `y >= 0`, without
    cancellation (see `negative_binomial_nll`).

    Formula:
    ```
    log p(0) = -r*log1p(m/r)
    log p(y) = -(deviance + count_log_normalizer(y) + log1p(y/r)/2
                 + stirling_error(r) - stirling_error(y + r))       y >= 1
    deviance = D(y, m) - D(y + r, m + r)                       (Loader)
             = y*log1p(r/(y + r) * (y - m)/m) + r*log1p((m - y)/(y + r))
    ```
    The two forms of the deviance are equal on paper. Loader's subtracts
    two saddle-point deviances of size up to the mean, which float32 cannot
    do at large means (y = 1, m = 1e8: both are 1e8); the second cancels the
    mean on paper, but its two terms cancel to first order where `y` is
    near `m`. Each element takes the form whose terms are smaller, so the
    rounding error of the form taken is at most a few eps of the result.
    At `y = 0`, the exact `-r*log1p(m/r)` keeps its relative accuracy where
    the general form would cancel (`m << r`).
    """
    positive = y > 0
    y_safe = keras.ops.where(positive, y, keras.ops.ones_like(y))
    loader = (
        saddle_point_deviance(y_safe, mean),
        saddle_point_deviance(y_safe + total_count, mean + total_count),
    )
    log_count_ratio = _log1p_or_logs(
        (mean - y_safe) / (y_safe + total_count),
        keras.ops.log(mean + total_count) - keras.ops.log(y_safe + total_count),
    )
    cancelled = (
        y_safe
        * _log1p_or_logs(
            total_count / (y_safe + total_count) * (y_safe - mean) / mean,
            keras.ops.log(y_safe) - keras.ops.log(mean) + log_count_ratio,
        ),
        total_count * log_count_ratio,
    )
    take_loader = loader[0] + loader[1] <= keras.ops.abs(cancelled[0]) + keras.ops.abs(
        cancelled[1]
    )
    deviance = keras.ops.where(
        take_loader, loader[0] - loader[1], cancelled[0] + cancelled[1]
    )
    general = -(
        deviance
        + count_log_normalizer(y_safe)
        + 0.5 * keras.ops.log1p(y_safe / total_count)
        + stirling_error(total_count)
        - stirling_error(y_safe + total_count)
    )
    at_zero = -total_count * keras.ops.log1p(mean / total_count)
    return keras.ops.where(positive, general, at_zero)


def _log1p_or_logs(ratio_minus_one, log_ratio):
    """`log1p(ratio_minus_one)` where `|ratio_minus_one| < 1/2`, else
    `log_ratio`, the same logarithm as a difference of logs: there the
    ratio is far from 1, so the difference does not cancel, while
    `ratio_minus_one` may have rounded to -1 (y = 1, m = 1e8 in float32).
    The `log1p` branch gets its argument clipped to `[-1/2, 1/2]`."""
    near_one = keras.ops.abs(ratio_minus_one) < 0.5
    clipped = keras.ops.clip(ratio_minus_one, -0.5, 0.5)
    return keras.ops.where(near_one, keras.ops.log1p(clipped), log_ratio)


def negative_binomial_nll(y_true, y_pred):
    """Per-sample negative log-likelihood of a `NegativeBinomialHead` output.

    Summed over the `units` axis; equals
    `-as_negative_binomial(y_pred).log_prob(y_true)` (summed over the unit
    axis when `units == 1`).

    Formula:
    ```
    nll = -lgamma(y + r) + lgamma(r) + lgamma(y + 1)
          - r*log(r / (r + m)) - y*log(m / (r + m))       m: mean, r: total_count
        = D(y, m) - D(y + r, m + r) + count_log_normalizer(y)
          + log1p(y / r)/2 + stirling_error(r) - stirling_error(y + r)
    D = saddle_point_deviance
    ```
    The second form, Loader's saddle-point form, is computed (it follows
    from the first with `lgamma(x) = (x - 1/2)*log(x) - x + log(2*pi)/2 +
    stirling_error(x)`), with its deviance difference in the form that does
    not cancel (`negative_binomial_log_pmf`). Its terms are O(1) where the
    first subtracts log-gammas of size `(y + r)*log(y + r)`, so float32
    keeps its accuracy for counts up to 1e7, means up to 1e8 and total
    counts from 1e-3 to the Poisson limit, with finite gradients. At `y = 0`
    it reduces to `r*log1p(m/r)`.

    Counts are checked as by `poisson_nll` (with `count_nll`).

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `NegativeBinomialHead` output, `(..., 2*units)`.

    Returns:
        The per-sample NLL, summed over the units: `(...)`.

    Raises:
        ValueError: for known targets that are not counts, as `poisson_nll`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.negative_binomial import negative_binomial_nll
    >>> negative_binomial_nll(np.array([[0.0], [3.0]], "float32"),
    ...                       np.array([[2.0, 1.0], [2.0, 1.0]], "float32")).numpy()
    array([1.0986..., 2.3150...], dtype=float32)

    Reference:
    - [Hilbe, 2011](https://doi.org/10.1017/CBO9780511973420), NB2.
    - [Loader, 2000](https://www.r-project.org/doc/reports/CLoader-dbinom-2002.pdf)
    """
    mean, total_count = split_negative_binomial_params(y_pred)
    return count_nll(
        y_true, mean, lambda y: negative_binomial_log_pmf(y, mean, total_count)
    )


def negative_binomial_crps(y_true, y_pred, support_size=1000):
    """Per-sample CRPS of a `NegativeBinomialHead` output by series.

    Mean over units; lower is better, in the units of the counts.

    Formula:
    ```
    CRPS(NB(m, r), y) = sum_{k >= 0} (F(k) - 1{y <= k})**2
    F(k) = sum_{j <= k} exp(-nll(j))
    ```
    summed over a window of `K = support_size` counts around the mean, as
    `poisson_crps` sums it; NaN where the window misses more than
    `eps**(2/3)/4` of the mass (a standard deviation `sqrt(m + m**2/r)` above
    about K/9 in float32, or a long right tail at a small total count).

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `NegativeBinomialHead` output, `(..., 2*units)`.
        support_size: `K`, as for `poisson_crps`.

    Returns:
        The per-sample CRPS, `(...)`, in counts.

    Example:

    >>> from keras_softplus.ops.negative_binomial import negative_binomial_crps
    >>> float(negative_binomial_crps([[2.0]], [[2.0, 1.0]])[0])
    0.5777...

    Reference:
    - [Gneiting & Raftery, 2007](https://doi.org/10.1198/016214506000001437)
    - [Wei & Held, 2014](https://doi.org/10.1007/s11749-014-0380-8)
    """
    support_size = support_size_argument(support_size)
    mean, total_count = split_negative_binomial_params(y_pred)
    return count_crps(
        y_true,
        mean,
        lambda k: negative_binomial_log_pmf(k, mean, total_count),
        mean,
        mean + keras.ops.square(mean) / total_count,
        support_size,
    )


__all__ = [
    "negative_binomial_crps",
    "negative_binomial_log_pmf",
    "negative_binomial_nll",
    "negative_binomial_variance",
    "split_negative_binomial_params",
]
