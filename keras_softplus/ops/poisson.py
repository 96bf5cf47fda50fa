"""The Poisson distribution of a `PoissonHead` output: split, NLL, CRPS.

`keras_softplus.losses.PoissonNLL` and the Poisson metrics wrap these
functions; `keras_softplus.distributions.as_poisson` builds the TFP
distribution from `split_poisson_params`. Written with `keras.ops`, so every
backend runs them, and none needs TensorFlow Probability.
"""

import math

import keras

from keras_softplus.ops.gamma import check_support
from keras_softplus.ops.gamma import saddle_point_deviance
from keras_softplus.ops.gamma import stirling_error
from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import split_parameters

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def split_poisson_params(y_pred):
    """The rate of a `PoissonHead` output `(..., units)`, as a 1-tuple.

    Formula:
    ```
    rate = y_pred
    ```

    Args:
        y_pred: tensor or array of shape `(..., units)`.

    Returns:
        A tuple `(rate,)` holding a tensor of shape `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.poisson import split_poisson_params
    >>> (rate,) = split_poisson_params(np.array([[2.0, 3.0]], "float32"))
    >>> rate.numpy()
    array([[2., 3.]], dtype=float32)
    """
    return split_parameters(y_pred, ("rate",), "PoissonHead")


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

    >>> from keras_softplus.ops.poisson import count_log_normalizer
    >>> float(count_log_normalizer(1.0))  # lgamma(2) - 0 + 1
    1.0
    """
    positive = y > 0
    y_safe = keras.ops.where(positive, y, keras.ops.ones_like(y))
    value = HALF_LOG_TWO_PI + 0.5 * keras.ops.log(y_safe) + stirling_error(y_safe)
    return keras.ops.where(positive, value, keras.ops.zeros_like(y))


def poisson_nll(y_true, y_pred):
    """Per-sample negative log-likelihood of a `PoissonHead` output.

    Summed over the `units` axis; equals `-as_poisson(y_pred).log_prob(y_true)`
    (summed over the unit axis when `units == 1`).

    Formula:
    ```
    nll = rate - y*log(rate) + lgamma(y + 1)
        = saddle_point_deviance(y, rate) + count_log_normalizer(y)
    ```
    The second form (Loader, 2000) is computed: its terms are O(1) where the
    first subtracts numbers of size `y*log(y)`, so float32 keeps its
    accuracy for counts of 1e4 and more, rates at the floor included, with
    finite gradients.

    Counts must be non-negative integers. Eagerly (values known) other
    targets raise a ValueError; inside a compiled function, where values
    are unknown, a negative count gives NaN and a non-integer count the
    continuous extension of the formula above.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `PoissonHead` output (the rate), `(..., units)`.

    Returns:
        A tensor of shape `(...)`.

    Raises:
        ValueError: for negative or non-integer targets whose values are
            known.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.poisson import poisson_nll
    >>> poisson_nll(np.array([[0.0], [3.0]], "float32"),
    ...             np.array([[2.0], [2.0]], "float32")).numpy()
    array([2.       , 1.7123...], dtype=float32)

    Reference:
    - [Loader, 2000](https://www.r-project.org/doc/reports/CLoader-dbinom-2002.pdf)
    """
    (rate,) = split_poisson_params(y_pred)
    return count_nll(y_true, rate, lambda y: poisson_log_pmf(y, rate))


def poisson_log_pmf(y, rate):
    """`log p(y)` of a Poisson, in Loader's form (see `poisson_nll`)."""
    return -(saddle_point_deviance(y, rate) + count_log_normalizer(y))


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


def poisson_crps(y_true, y_pred, support_size=1000):
    """Per-sample CRPS of a `PoissonHead` output by series, mean over units.

    The continuous ranked probability score (lower is better, in the units
    of the counts); for a point mass it is the absolute error.

    Formula:
    ```
    CRPS(Poisson(rate), y) = sum_{k=0}^{K-1} (F(k) - 1{y <= k})**2 + max(y - K, 0)
    F(k) = sum_{j <= k} exp(-nll(j))
    ```
    `K = support_size` must cover the predictive distribution (rates up to
    about `K - 6*sqrt(K)`); the cost is `K` terms per prediction.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `PoissonHead` output, `(..., units)`.
        support_size: number of terms `K`, a positive Python int.

    Returns:
        A tensor of shape `(...)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.poisson import poisson_crps
    >>> float(poisson_crps(np.array([[2.0]]), np.array([[2.0]]))[0])
    0.3111...

    Reference:
    - [Gneiting & Raftery, 2007](https://doi.org/10.1198/016214506000001437)
    - [Czado et al., 2009](https://doi.org/10.1111/j.1541-0420.2009.01191.x)
    """
    (rate,) = split_poisson_params(y_pred)
    return count_crps(y_true, rate, lambda k: poisson_log_pmf(k, rate), support_size)


__all__ = [
    "count_crps",
    "count_log_normalizer",
    "count_nll",
    "is_count",
    "poisson_crps",
    "poisson_log_pmf",
    "poisson_nll",
    "split_poisson_params",
]
