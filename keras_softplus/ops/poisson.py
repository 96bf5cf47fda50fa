"""The Poisson distribution of a `PoissonHead` output: split, NLL, CRPS.

`keras_softplus.losses.PoissonNLL` and the Poisson metrics wrap these
functions; `keras_softplus.distributions.as_poisson` builds the TFP
distribution from `split_poisson_params`. Written with `keras.ops`, so every
backend runs them, and none needs TensorFlow Probability.
"""

from keras_softplus.ops._validation import support_size_argument
from keras_softplus.ops.counts import count_crps
from keras_softplus.ops.counts import count_log_normalizer
from keras_softplus.ops.counts import count_nll
from keras_softplus.ops.parameters import POISSON_PARAMETERS
from keras_softplus.ops.parameters import split_parameters
from keras_softplus.ops.special import saddle_point_deviance
from keras_softplus.ops.support import is_count


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
    return split_parameters(y_pred, POISSON_PARAMETERS, "PoissonHead")


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

    Counts must be finite non-negative integers. Eagerly (values known)
    other targets raise a ValueError; inside a compiled function, where
    values are unknown, they give NaN.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `PoissonHead` output (the rate), `(..., units)`.

    Returns:
        A tensor of shape `(...)`.

    Raises:
        ValueError: for known targets that are not counts.

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


def poisson_crps(y_true, y_pred, support_size=1000):
    """Per-sample CRPS of a `PoissonHead` output by series, mean over units.

    The continuous ranked probability score (lower is better, in the units
    of the counts); for a point mass it is the absolute error.

    Formula:
    ```
    CRPS(Poisson(rate), y) = sum_{k >= 0} (F(k) - 1{y <= k})**2
    F(k) = sum_{j <= k} exp(-nll(j))
    ```
    summed over a window of `K = support_size` counts around the rate
    (`count_crps`), exactly beyond it. The CRPS is NaN where the window
    misses more than `eps**(2/3)/4` of the mass: `K = 1000` covers rates up to
    about 1.2e4 in float32 (5.4e3 in float64), a larger `K` (up to 2**24)
    more, at `K` terms per prediction.

    Args:
        y_true: counts, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `PoissonHead` output, `(..., units)`.
        support_size: number of terms `K`, an int in [1, 2**24].

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
    support_size = support_size_argument(support_size)
    (rate,) = split_poisson_params(y_pred)
    return count_crps(
        y_true, rate, lambda k: poisson_log_pmf(k, rate), rate, rate, support_size
    )


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
