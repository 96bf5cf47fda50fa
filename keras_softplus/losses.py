"""Keras losses of the distribution heads: thin wrappers of `ops` functions.

Each loss wraps the public per-sample function of its distribution's module,
as Keras pairs `MeanSquaredError` with `mean_squared_error`. Written with
`keras.ops`; needs no TensorFlow Probability.
"""

import keras

from keras_softplus._registration import register_public
from keras_softplus.ops._validation import real_number
from keras_softplus.ops.gamma import gamma_nll
from keras_softplus.ops.negative_binomial import negative_binomial_nll
from keras_softplus.ops.normal import normal_nll
from keras_softplus.ops.poisson import poisson_nll
from keras_softplus.ops.student_t import student_t_nll


class _FunctionLoss(keras.losses.Loss):
    """A loss whose per-sample values are `fn(y_true, y_pred, **fn_kwargs)`.

    The config holds the loss arguments and `fn_kwargs` (not `fn`, which
    each subclass fixes), so subclasses load with `cls(**config)`. `reduction`,
    `name` and `dtype` are those of every `keras.losses.Loss`; the default
    reduction, `"sum_over_batch_size"`, averages the per-sample losses.
    """

    def __init__(self, fn, reduction, name, dtype, **fn_kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"dtype": self.dtype, **self.fn_kwargs})
        return config


@register_public
class NormalNLL(_FunctionLoss):
    """Negative log-likelihood of `y_true` under the Normal of a `NormalHead`.

    Wraps `keras_softplus.ops.normal.normal_nll`. `y_pred` is
    `(..., 2*units)`, the loc then the scale; `y_true` is `(..., units)`, or
    `(...)` when `units == 1`. The per-sample loss sums over the `units`
    axis, so with `beta_nll=0` it equals `-as_normal(y_pred).log_prob(y_true)`
    (summed over the unit axis when `units == 1`).

    With `beta_nll > 0` it is the beta-NLL of Seitzer et al. (2022): each
    term is weighted by `stop_gradient(scale**2)**beta_nll`. `beta_nll=0.5`
    is their recommendation; with `beta_nll=1` the gradient wrt the loc is
    `loc - y_true`, as for half the squared error.

    Formula:
    ```
    z    = (y_true - loc) / scale
    nll  = 0.5*log(2*pi) + log(scale) + 0.5*z**2
    loss = sum over units of stop_gradient(scale**2)**beta_nll * nll
    ```

    Args:
        beta_nll: weight exponent in `[0, 1]`; 0 (default) is the plain NLL.
        reduction: as for every `keras.losses.Loss`; the default
            `"sum_over_batch_size"` averages the per-sample losses.
        name: name of the loss.
        dtype: dtype of the loss computation; `None` for `floatx()`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> y_pred = np.array([[0.0, 1.0], [1.0, 2.0]], dtype="float32")
    >>> y_true = np.array([[0.0], [3.0]], dtype="float32")
    >>> loss = keras_softplus.losses.NormalNLL(reduction=None)
    >>> loss(y_true, y_pred).numpy()
    array([0.9189385, 2.1120857], dtype=float32)
    >>> keras_softplus.losses.NormalNLL(beta_nll=0.5, reduction=None)(
    ...     y_true, y_pred).numpy()
    array([0.9189385, 4.2241716], dtype=float32)

    Reference:
    - [Nix & Weigend, 1994](https://doi.org/10.1109/ICNN.1994.374138)
    - [Seitzer et al., ICLR 2022](https://arxiv.org/abs/2203.09168),
      beta-NLL.
    """

    def __init__(
        self,
        beta_nll=0.0,
        reduction="sum_over_batch_size",
        name="normal_nll",
        dtype=None,
    ):
        beta_nll = real_number(beta_nll, "beta_nll")
        if not 0.0 <= beta_nll <= 1.0:
            raise ValueError(
                f"`beta_nll` must be in [0, 1]. Received: beta_nll={beta_nll!r}"
            )
        super().__init__(normal_nll, reduction, name, dtype, beta_nll=beta_nll)
        self.beta_nll = beta_nll


@register_public
class StudentTNLL(_FunctionLoss):
    """Negative log-likelihood of `y_true` under a `StudentTHead`'s Student-t.

    Wraps `keras_softplus.ops.student_t.student_t_nll`. `y_pred` is
    `(..., 3*units)`, the loc, scale and df; `y_true` is `(..., units)`, or
    `(...)` when `units == 1`. The per-sample loss sums over the `units`
    axis and equals `-as_student_t(y_pred).log_prob(y_true)`.

    Formula:
    ```
    z    = (y_true - loc) / scale
    loss = sum over units of log(scale) + log(df*pi)/2
           + lgamma(df/2) - lgamma((df + 1)/2) + (df + 1)/2 * log1p(z**2/df)
    ```
    Finite, with finite gradients, for scales at the floor and outliers 1e4
    scales away; an outlier's gradient on the loc decays as `1/z` instead of
    growing as `z` under `NormalNLL`.

    Args:
        reduction: as for every `keras.losses.Loss`.
        name: name of the loss.
        dtype: dtype of its computation; `None` for `floatx()`.

    Example:

    The default reduction averages the two samples' 1.0008 and 8.0731:

    >>> import keras_softplus
    >>> loss = keras_softplus.losses.StudentTNLL()
    >>> float(loss([[0.0], [10.0]], [[0.0, 1.0, 3.0]] * 2))
    4.5370...

    Reference:
    - [Lange et al., 1989](https://doi.org/10.1080/01621459.1989.10478852)
    """

    def __init__(
        self, reduction="sum_over_batch_size", name="student_t_nll", dtype=None
    ):
        super().__init__(student_t_nll, reduction, name, dtype)


@register_public
class PoissonNLL(_FunctionLoss):
    """Negative log-likelihood of counts under a `PoissonHead`'s Poisson.

    Wraps `keras_softplus.ops.poisson.poisson_nll`. `y_pred` is the rate,
    `(..., units)`; `y_true` the counts, `(..., units)` or `(...)` when
    `units == 1`. Unlike `keras.losses.Poisson` (`rate - y*log(rate)`), it
    includes `lgamma(y + 1)`, so its value is a log-likelihood that
    compares across models and with `NegativeBinomialNLL`.

    Counts must be non-negative integers: eagerly other targets raise a
    ValueError naming `y_true`; inside a compiled `fit` (values unknown) a
    negative count makes the loss NaN.

    Formula:
    ```
    loss = sum over units of rate - y*log(rate) + lgamma(y + 1)
    ```
    Accurate in float32 for counts of 1e4 and rates at the floor.

    Args:
        reduction: as for every `keras.losses.Loss`.
        name: name of the loss.
        dtype: dtype of its computation; `None` for `floatx()`.

    Example:

    >>> from keras_softplus.losses import PoissonNLL
    >>> PoissonNLL(reduction=None)([0.0, 3.0], [[2.0], [2.0]]).numpy()
    array([2.       , 1.7123...], dtype=float32)
    """

    def __init__(self, reduction="sum_over_batch_size", name="poisson_nll", dtype=None):
        super().__init__(poisson_nll, reduction, name, dtype)


@register_public
class NegativeBinomialNLL(_FunctionLoss):
    """Negative log-likelihood of counts under a `NegativeBinomialHead` output.

    Wraps `keras_softplus.ops.negative_binomial.negative_binomial_nll`.
    `y_pred` is `(..., 2*units)`, the mean then the total count; `y_true` the
    counts, `(..., units)` or `(...)` when `units == 1`. Equals
    `-as_negative_binomial(y_pred).log_prob(y_true)`; accurate in float32
    for counts of 1e4 and total counts from the floor to the Poisson limit.
    Counts are checked as by `PoissonNLL`.

    Formula:
    ```
    loss = sum over units of -lgamma(y + r) + lgamma(r) + lgamma(y + 1)
           - r*log(r/(r + m)) - y*log(m/(r + m))       m: mean, r: total_count
    ```

    Args:
        reduction: as for every `keras.losses.Loss`; `"sum"` adds the
            per-sample losses up.
        name: name of the loss.
        dtype: dtype of its computation; `None` for `floatx()`.

    Example:

    >>> import keras_softplus
    >>> loss = keras_softplus.losses.NegativeBinomialNLL(reduction="sum")
    >>> float(loss([[0.0], [3.0]], [[2.0, 1.0], [2.0, 1.0]]))  # 1.0986 + 2.3150
    3.4136...

    Reference:
    - [Hilbe, 2011](https://doi.org/10.1017/CBO9780511973420), NB2.
    """

    def __init__(
        self, reduction="sum_over_batch_size", name="negative_binomial_nll", dtype=None
    ):
        super().__init__(negative_binomial_nll, reduction, name, dtype)


@register_public
class GammaNLL(_FunctionLoss):
    """Negative log-likelihood of positive targets under a `GammaHead` output.

    Wraps `keras_softplus.ops.gamma.gamma_nll`. `y_pred` is `(..., 2*units)`,
    the concentration then the rate; `y_true` is `(..., units)` or `(...)`
    when `units == 1`, and must be `> 0`. Equals
    `-as_gamma(y_pred).log_prob(y_true)`; accurate in float32 for targets
    from 1e-8 to 1e8 and concentrations of 1e4.

    Formula:
    ```
    loss = sum over units of lgamma(a) - a*log(b) - (a - 1)*log(y) + b*y
    ```
    Targets `<= 0`, infinite or subnormal are outside the support: eagerly
    they raise a ValueError
    naming `y_true`; inside a compiled `fit` (values unknown) they make the
    loss NaN.

    Args:
        reduction: as for every `keras.losses.Loss`.
        name: name of the loss.
        dtype: dtype of its computation; `None` for `floatx()`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> loss = keras_softplus.losses.GammaNLL(reduction=None)
    >>> values = loss(np.array([[1.0], [2.0]]), np.array([[1.0, 1.0], [2.0, 1.0]]))
    >>> np.round(values.numpy(), 4)
    array([1.    , 1.3069], dtype=float32)
    >>> loss([[0.0]], [[1.0, 1.0]])
    Traceback (most recent call last):
    ...
    ValueError: `y_true` must be > 0, finite and not subnormal (the support...
    """

    def __init__(self, reduction="sum_over_batch_size", name="gamma_nll", dtype=None):
        super().__init__(gamma_nll, reduction, name, dtype)


__all__ = ["GammaNLL", "NegativeBinomialNLL", "NormalNLL", "PoissonNLL", "StudentTNLL"]
