"""Keras metrics of the distribution heads: thin wrappers of `ops` functions.

Each metric is a `MeanMetricWrapper` around the public function of its
distribution's module, as Keras pairs `MeanSquaredError` with
`mean_squared_error`. Each is registered (`keras_softplus>Name`), takes
`sample_weight`, and needs no TensorFlow Probability.
"""

import functools

import keras

from keras_softplus._registration import register_public
from keras_softplus.ops._validation import support_size_argument
from keras_softplus.ops.gamma import gamma_nll
from keras_softplus.ops.negative_binomial import negative_binomial_crps
from keras_softplus.ops.negative_binomial import negative_binomial_nll
from keras_softplus.ops.normal import normal_crps
from keras_softplus.ops.normal import normal_mean_squared_error
from keras_softplus.ops.normal import normal_nll
from keras_softplus.ops.poisson import poisson_crps
from keras_softplus.ops.poisson import poisson_nll
from keras_softplus.ops.student_t import student_t_crps
from keras_softplus.ops.student_t import student_t_nll


class _LowerIsBetter(keras.metrics.MeanMetricWrapper):
    """A mean of a per-sample function of `(y_true, y_pred)`, minimised.

    Subclasses pass their function and default name; the config holds only
    `name` and `dtype`, as for Keras' own wrapped metrics. `update_state`
    takes `sample_weight`; `result()` is the weighted mean. The function
    runs in the metric's dtype (float32 by default): a half-precision head
    output is cast up first, as Keras' `MeanMetricWrapper` does not.
    """

    def __init__(self, fn, name, dtype):
        super().__init__(fn=self._in_own_dtype, name=name, dtype=dtype)
        self._per_sample = fn
        self._direction = "down"

    def _in_own_dtype(self, y_true, y_pred):
        return self._per_sample(
            keras.ops.cast(y_true, self.dtype), keras.ops.cast(y_pred, self.dtype)
        )

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_public
class NormalNLLMetric(_LowerIsBetter):
    """Mean negative log-likelihood of `y_true` under the predicted Normal.

    The plain NLL of `keras_softplus.ops.normal.normal_nll` (no beta-NLL
    weighting), whatever `beta_nll` the loss uses, so that models trained
    with different `beta_nll` compare.

    Formula:
    ```
    result = weighted mean over samples of nll
    nll    = sum over units of 0.5*log(2*pi) + log(scale) + 0.5*((y - loc)/scale)**2
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    A zero `sample_weight` leaves a sample out:

    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.NormalNLLMetric()
    >>> y_pred = [[0.0, 1.0], [1.0, 2.0]]
    >>> metric.update_state([[0.0], [3.0]], y_pred, sample_weight=[1.0, 0.0])
    >>> float(metric.result())  # 0.5*log(2*pi), the first sample's
    0.9189...
    """

    def __init__(self, name="normal_nll", dtype=None):
        super().__init__(normal_nll, name=name, dtype=dtype)


@register_public
class NormalMeanRMSE(_LowerIsBetter):
    """Root mean squared error of the predicted mean, the `loc`.

    Takes the square root of the mean of
    `keras_softplus.ops.normal.normal_mean_squared_error`.

    Formula:
    ```
    result = sqrt(weighted mean over samples of mean over units of (y - loc)**2)
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    The predicted scale plays no part:

    >>> from keras_softplus.metrics import NormalMeanRMSE
    >>> rmse = NormalMeanRMSE()
    >>> rmse.update_state([[0.0], [3.0]], [[0.0, 1.0], [1.0, 2.0]])
    >>> print(f"{float(rmse.result()):.4f}")  # sqrt((0 + 4) / 2)
    1.4142
    """

    def __init__(self, name="normal_mean_rmse", dtype=None):
        super().__init__(normal_mean_squared_error, name=name, dtype=dtype)

    def result(self):
        return keras.ops.sqrt(super().result())


@register_public
class NormalCRPS(_LowerIsBetter):
    """Mean continuous ranked probability score of the predicted Normal.

    Lower is better, in the units of `y_true`: the closed form of Gneiting
    et al. (2005), `keras_softplus.ops.normal.normal_crps`, averaged over
    units.

    Formula:
    ```
    result = weighted mean over samples of mean over units of CRPS
    CRPS   = scale * (z*(2*Phi(z) - 1) + 2*phi(z) - 1/sqrt(pi))
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    >>> import keras_softplus
    >>> crps = keras_softplus.metrics.NormalCRPS()
    >>> crps.update_state([[0.0]], [[0.0, 1.0]])
    >>> float(crps.result())  # (sqrt(2) - 1) / sqrt(pi)
    0.2336...

    Reference:
    - [Gneiting et al., 2005](https://doi.org/10.1175/MWR2904.1)
    """

    def __init__(self, name="normal_crps", dtype=None):
        super().__init__(normal_crps, name=name, dtype=dtype)


@register_public
class StudentTNLLMetric(_LowerIsBetter):
    """Mean negative log-likelihood of `y_true` under a `StudentTHead` output.

    The function of `keras_softplus.losses.StudentTNLL`,
    `keras_softplus.ops.student_t.student_t_nll`, as a metric.

    Formula:
    ```
    result = weighted mean over samples of nll
    nll    = sum over units of log(scale) + log(df*pi)/2 + lgamma(df/2)
             - lgamma((df + 1)/2) + (df + 1)/2 * log1p(((y - loc)/scale)**2/df)
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    An outlier 10 scales away costs 8 nats, against 50 under a Normal:

    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.StudentTNLLMetric()
    >>> metric.update_state([[0.0], [10.0]], [[0.0, 1.0, 3.0]] * 2)
    >>> round(float(metric.result()), 4)  # (1.0008 + 8.0731) / 2
    4.537
    """

    def __init__(self, name="student_t_nll", dtype=None):
        super().__init__(student_t_nll, name=name, dtype=dtype)


@register_public
class PoissonNLLMetric(_LowerIsBetter):
    """Mean negative log-likelihood of `y_true` under a `PoissonHead` output.

    `keras_softplus.ops.poisson.poisson_nll`, the function of
    `keras_softplus.losses.PoissonNLL`, averaged over samples.

    Formula:
    ```
    result = weighted mean over samples of nll
    nll    = sum over units of rate - y*log(rate) + lgamma(y + 1)
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    With `units == 1`, counts may come without their unit axis:

    >>> from keras_softplus.metrics import PoissonNLLMetric
    >>> metric = PoissonNLLMetric()
    >>> metric.update_state([0.0, 3.0], [[2.0], [2.0]])
    >>> print(metric.result().numpy())
    1.8561...
    """

    def __init__(self, name="poisson_nll", dtype=None):
        super().__init__(poisson_nll, name=name, dtype=dtype)


@register_public
class NegativeBinomialNLLMetric(_LowerIsBetter):
    """Mean negative log-likelihood of `y_true` under a `NegativeBinomialHead` output.

    Averages `keras_softplus.ops.negative_binomial.negative_binomial_nll`
    (the function of `keras_softplus.losses.NegativeBinomialNLL`).

    Formula:
    ```
    result = weighted mean over samples of nll
    nll    = sum over units of -lgamma(y + r) + lgamma(r) + lgamma(y + 1)
             - r*log(r/(r + m)) - y*log(m/(r + m))      m: mean, r: total_count
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    For a large total count it is `PoissonNLLMetric`'s value:

    >>> import keras_softplus
    >>> nb = keras_softplus.metrics.NegativeBinomialNLLMetric()
    >>> nb.update_state([[0.0], [3.0]], [[2.0, 1e6], [2.0, 1e6]])
    >>> float(nb.result())
    1.8561...
    """

    def __init__(self, name="negative_binomial_nll", dtype=None):
        super().__init__(negative_binomial_nll, name=name, dtype=dtype)


@register_public
class GammaNLLMetric(_LowerIsBetter):
    """Mean negative log-likelihood of `y_true` under a `GammaHead` output.

    Targets must be `> 0`. Wraps `keras_softplus.ops.gamma.gamma_nll`, as
    `keras_softplus.losses.GammaNLL` does.

    Formula:
    ```
    result = weighted mean over samples of nll
    nll    = sum over units of lgamma(a) - a*log(b) - (a - 1)*log(y) + b*y
    ```
    with `a` the concentration and `b` the rate.

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.GammaNLLMetric(name="gamma")
    >>> metric.update_state([[1.0], [2.0]], [[1.0, 1.0], [2.0, 1.0]])
    >>> metric.name, float(metric.result())
    ('gamma', 1.1534...)
    """

    def __init__(self, name="gamma_nll", dtype=None):
        super().__init__(gamma_nll, name=name, dtype=dtype)


@register_public
class StudentTCRPS(_LowerIsBetter):
    """Mean continuous ranked probability score of a `StudentTHead` output.

    The closed form of Jordan et al. (2019),
    `keras_softplus.ops.student_t.student_t_crps`, averaged over units
    (lower is better, in the units of `y_true`).

    Formula:
    ```
    result = weighted mean over samples of mean over units of CRPS
    CRPS   = scale * (z*(2*F(z) - 1) + 2*f(z)*(df + z**2)/(df - 1)
                      - 2*sqrt(df)*B(1/2, df - 1/2) / ((df - 1)*B(1/2, df/2)**2))
    ```

    Args:
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    As `df` grows it tends to `NormalCRPS`:

    >>> from keras_softplus.metrics import StudentTCRPS
    >>> heavy, light = StudentTCRPS(), StudentTCRPS()
    >>> heavy.update_state([[0.5]], [[0.0, 1.0, 3.0]])
    >>> light.update_state([[0.0]], [[0.0, 1.0, 1e6]])
    >>> float(heavy.result()), float(light.result())
    (0.3651..., 0.2336...)

    Reference:
    - [Jordan et al., 2019](https://doi.org/10.18637/jss.v090.i12)
    """

    def __init__(self, name="student_t_crps", dtype=None):
        super().__init__(student_t_crps, name=name, dtype=dtype)


class _CountCRPS(_LowerIsBetter):
    """A count CRPS by its series over a window of `support_size` counts."""

    def __init__(self, fn, support_size, name, dtype):
        support_size = support_size_argument(support_size)
        super().__init__(functools.partial(fn, support_size=support_size), name, dtype)
        self.support_size = support_size

    def get_config(self):
        return {**super().get_config(), "support_size": self.support_size}


@register_public
class PoissonCRPS(_CountCRPS):
    """Mean continuous ranked probability score of a `PoissonHead` output.

    Wraps `keras_softplus.ops.poisson.poisson_crps`: the series
    `sum_k (F(k) - 1{y <= k})**2` over a window of `support_size` counts
    around the rate, exact beyond it. Lower is better, in counts. A sample
    whose window misses more than `eps**(2/3)/4` of the predicted mass is
    NaN, so the result is NaN: a larger `support_size` is needed.

    Formula:
    ```
    CRPS(F, y) = sum_{k >= 0} (F(k) - 1{y <= k})**2
    result = weighted mean over samples of mean over units of CRPS
    ```

    Args:
        support_size: number of terms `K`, an integer in `[1, 2**24]`;
            1000 covers rates up to about 1.2e4 in float32.
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    Fifty terms cover a rate of 2:

    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.PoissonCRPS(support_size=50)
    >>> metric.update_state([[2.0]], [[2.0]])
    >>> float(metric.result())
    0.3111...

    Reference:
    - [Czado et al., 2009](https://doi.org/10.1111/j.1541-0420.2009.01191.x)
    """

    def __init__(self, support_size=1000, name="poisson_crps", dtype=None):
        super().__init__(poisson_crps, support_size, name, dtype)


@register_public
class NegativeBinomialCRPS(_CountCRPS):
    """Mean continuous ranked probability score of a `NegativeBinomialHead`.

    Wraps `keras_softplus.ops.negative_binomial.negative_binomial_crps`, the
    series of `PoissonCRPS` for the negative binomial's `F`, over a window
    of `support_size` counts around the mean (NaN where it misses more than
    `eps**(2/3)/4` of the mass). Lower is better, in counts.

    Formula:
    ```
    result = weighted mean over samples of mean over units of CRPS
    CRPS(F, y) = sum_{k >= 0} (F(k) - 1{y <= k})**2
    ```

    Args:
        support_size: number of terms `K`, an integer in `[1, 2**24]`; the
            window must hold the predicted spread, several
            `sqrt(m + m**2/r)` for mean `m` and total count `r`.
        name: name of the metric.
        dtype: dtype of its computation, as for every Keras metric.

    Example:

    Above `PoissonCRPS`'s 0.3111 for the same mean, as the spread is wider:

    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.NegativeBinomialCRPS()
    >>> metric.update_state([[2.0]], [[2.0, 1.0]])
    >>> float(metric.result())
    0.5777...

    Reference:
    - [Wei & Held, 2014](https://doi.org/10.1007/s11749-014-0380-8)
    """

    def __init__(self, support_size=1000, name="negative_binomial_crps", dtype=None):
        super().__init__(negative_binomial_crps, support_size, name, dtype)


__all__ = [
    "GammaNLLMetric",
    "NegativeBinomialCRPS",
    "NegativeBinomialNLLMetric",
    "NormalCRPS",
    "NormalMeanRMSE",
    "NormalNLLMetric",
    "PoissonCRPS",
    "PoissonNLLMetric",
    "StudentTCRPS",
    "StudentTNLLMetric",
]
