"""From a head's output to TensorFlow Probability distributions.

The heads output plain tensors; these functions build the TFP distribution
they stand for: `as_normal` and `as_mixture` (`NormalHead`), `as_student_t`,
`as_poisson`, `as_negative_binomial` and `as_gamma`. `split_normal_params`
(from `keras_softplus.ops.normal`) uses `keras.ops` only. Each `as_*`
function imports TensorFlow Probability when it is first called, not when
this module is imported, so the heads, the losses and the metrics work
without TFP installed. TFP's
Keras layers (`tfp.layers`) are not used: they need Keras 2 (`tf_keras`).

The parameters are split as the losses split them: a half-precision output
(a mixed-precision head's) gives a float32 distribution, an integer one a
`floatx()` distribution. On JAX and PyTorch the parameters reach TFP as
NumPy arrays, and the distribution is a TensorFlow one.
"""

import keras
import numpy as np

from keras_softplus.ops.gamma import split_gamma_params
from keras_softplus.ops.negative_binomial import split_negative_binomial_params
from keras_softplus.ops.normal import split_normal_params
from keras_softplus.ops.poisson import split_poisson_params
from keras_softplus.ops.student_t import split_student_t_params


def _tfp_distributions():
    try:
        import tensorflow_probability as tfp
    except ImportError as error:
        raise ImportError(
            "`keras_softplus.distributions.as_normal` (as every `as_*`: "
            "`as_mixture`, `as_student_t`, `as_poisson`, "
            "`as_negative_binomial`, `as_gamma`) needs TensorFlow Probability: "
            "`pip install tensorflow-probability[tf]`. The heads, "
            "`split_normal_params` and the losses and metrics do not."
        ) from error
    return tfp.distributions


def _for_tfp(*tensors):
    """The tensors as TFP takes them: as they are on TensorFlow, NumPy
    arrays on the other backends (TFP cannot read a PyTorch dtype)."""
    if keras.backend.backend() == "tensorflow":
        return tensors
    return tuple(keras.ops.convert_to_numpy(tensor) for tensor in tensors)


def as_normal(y_pred):
    """The TFP Normal distribution of a `NormalHead` output.

    Returns, with `(loc, scale) = split_normal_params(y_pred)` of shape
    `(..., units)`:
    - for `units == 1`: `tfd.Normal(loc, scale)`, with `batch_shape`
      `(..., 1)` (the unit axis is kept as a batch axis) and
      `event_shape` `[]`, so `log_prob(y_true)` for `y_true` of shape
      `(..., 1)` has shape `(..., 1)`, like Keras' `(batch, 1)` targets;
    - for `units > 1`: `tfd.Independent(tfd.Normal(loc, scale),
      reinterpreted_batch_ndims=1)`, with `batch_shape` `(...)` and
      `event_shape` `[units]`, so `log_prob` sums over the units and has
      shape `(...)`.

    Formula:
    ```
    p(y) = prod_i Normal(y_i; loc_i, scale_i)
    Normal(y; m, s) = exp(-(y - m)**2 / (2 s**2)) / (s * sqrt(2 pi))
    ```

    Needs TensorFlow Probability, imported on first call. No `tfp.layers`.

    Args:
        y_pred: tensor or array of shape `(..., 2*units)`.

    Returns:
        A `tfp.distributions.Normal` (`units == 1`) or
        `tfp.distributions.Independent` (`units > 1`).

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> normal = keras_softplus.distributions.as_normal(
    ...     np.array([[1.0, 0.5], [0.0, 2.0]], dtype="float32"))
    >>> normal.batch_shape, normal.event_shape
    (TensorShape([2, 1]), TensorShape([]))
    >>> normal.stddev().numpy()
    array([[0.5],
           [2. ]], dtype=float32)
    >>> keras_softplus.distributions.as_normal(np.zeros((2, 6))).event_shape
    TensorShape([3])
    """
    tfd = _tfp_distributions()
    loc, scale = _for_tfp(*split_normal_params(y_pred))
    return _with_event_axis(tfd, tfd.Normal(loc=loc, scale=scale))


def _with_event_axis(tfd, distribution):
    """`units == 1`: as is (the unit axis stays a batch axis); otherwise
    `Independent` over the unit axis, so `log_prob` sums over the units."""
    if distribution.batch_shape[-1] == 1:
        return distribution
    return tfd.Independent(distribution, reinterpreted_batch_ndims=1)


def as_mixture(y_preds):
    """The equal-weight mixture of several `NormalHead` outputs (an ensemble).

    A deep ensemble predicts with the mixture of its members' Normals. Each
    member's output is split as `as_normal` splits it; the result is a
    `tfd.MixtureSameFamily` with equal weights, shaped as `as_normal` shapes
    one member: for `units == 1` `batch_shape` `(..., 1)` and `event_shape`
    `[]`; for `units > 1` `batch_shape` `(...)` and `event_shape` `[units]`
    (each component an `Independent` Normal over the units).

    Formula:
    ```
    p(y) = (1/M) * sum over members m of Normal(y; loc_m, scale_m)
    mean = (1/M) * sum of loc_m
    variance = (1/M) * sum of (scale_m**2 + loc_m**2) - mean**2
    ```

    Needs TensorFlow Probability, imported on first call. No `tfp.layers`.

    Args:
        y_preds: a non-empty list (or tuple) of `NormalHead` outputs of one
            shape `(..., 2*units)`, tensors or arrays.

    Returns:
        A `tfp.distributions.MixtureSameFamily`.

    Raises:
        ValueError: for an empty list or members of different shapes or
            dtypes.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> members = [np.array([[0.0, 1.0]], "float32"),
    ...            np.array([[2.0, 1.0]], "float32")]
    >>> mixture = keras_softplus.distributions.as_mixture(members)
    >>> mixture.batch_shape, mixture.event_shape
    (TensorShape([1, 1]), TensorShape([]))
    >>> mixture.mean().numpy(), mixture.stddev().numpy()
    (array([[1.]], dtype=float32), array([[1.4142135]], dtype=float32))

    Reference:
    - [Lakshminarayanan et al., 2017](https://arxiv.org/abs/1612.01474)
    """
    if isinstance(y_preds, (str, bytes)) or not isinstance(y_preds, (list, tuple)):
        raise TypeError(
            "`y_preds` must be a list of `NormalHead` outputs. "
            f"Received: y_preds of type {type(y_preds).__name__}"
        )
    if not y_preds:
        raise ValueError("`y_preds` must hold at least one output. Received: []")
    params = [split_normal_params(y_pred) for y_pred in y_preds]
    shapes = {tuple(loc.shape) for loc, _ in params}
    if len(shapes) != 1:
        raise ValueError(
            "Every member of `y_preds` must have the same shape. Received: "
            f"loc shapes {[tuple(loc.shape) for loc, _ in params]}"
        )
    dtypes = [keras.backend.standardize_dtype(loc.dtype) for loc, _ in params]
    if len(set(dtypes)) != 1:
        raise ValueError(
            "Every member of `y_preds` must have the same dtype. Received: "
            f"dtypes {dtypes}"
        )
    tfd = _tfp_distributions()
    # Members on a new last axis, behind the unit axis, which stays a batch
    # axis as in `as_normal`: components (..., 1, M); for units > 1, before
    # the unit axis, which becomes the event: components (..., M) of event
    # [units].
    member_axis = -1 if params[0][0].shape[-1] == 1 else -2
    loc, scale = _for_tfp(
        keras.ops.stack([loc for loc, _ in params], axis=member_axis),
        keras.ops.stack([scale for _, scale in params], axis=member_axis),
    )
    components = tfd.Normal(loc=loc, scale=scale)
    if member_axis == -2:
        components = tfd.Independent(components, reinterpreted_batch_ndims=1)
    weights = tfd.Categorical(logits=np.zeros(tuple(components.batch_shape), dtypes[0]))
    return tfd.MixtureSameFamily(weights, components)


def as_student_t(y_pred):
    """The TFP Student-t distribution of a `StudentTHead` output.

    `tfd.StudentT(df, loc, scale)` of `split_student_t_params(y_pred)`,
    shaped as `as_normal` shapes its result: for `units == 1` `batch_shape`
    `(..., 1)` and `event_shape` `[]`; for `units > 1` an `Independent` with
    `event_shape` `[units]`.

    Formula:
    ```
    p(y) = Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi) scale)
           * (1 + ((y - loc)/scale)**2 / df)**(-(df+1)/2)
    ```

    Args:
        y_pred: a `StudentTHead` output, `(..., 3*units)`.

    Returns:
        A `tfp.distributions.StudentT` or `tfp.distributions.Independent`.

    Example:

    With `df = 4` the standard deviation is `scale * sqrt(2)`:

    >>> from keras_softplus.distributions import as_student_t
    >>> t = as_student_t([[1.0, 1.0, 4.0]])
    >>> t.batch_shape, t.event_shape
    (TensorShape([1, 1]), TensorShape([]))
    >>> t.stddev().numpy()
    array([[1.4142135]], dtype=float32)
    """
    tfd = _tfp_distributions()
    loc, scale, df = _for_tfp(*split_student_t_params(y_pred))
    return _with_event_axis(tfd, tfd.StudentT(df=df, loc=loc, scale=scale))


def as_poisson(y_pred):
    """The TFP Poisson distribution of a `PoissonHead` output.

    `tfd.Poisson(rate)`, shaped as `as_normal` shapes its result (units
    kept as a batch axis when `units == 1`, an `Independent` event
    otherwise).

    Formula:
    ```
    p(y) = rate**y exp(-rate) / y!
    ```

    Args:
        y_pred: the rates of a `PoissonHead`, `(..., units)`.

    Returns:
        A `tfp.distributions.Poisson`, or an `Independent` one for `units > 1`.

    Example:

    Two units make an event of two counts:

    >>> import keras_softplus
    >>> poisson = keras_softplus.distributions.as_poisson([[2.0, 3.0]])
    >>> poisson.batch_shape, poisson.event_shape
    (TensorShape([1]), TensorShape([2]))
    >>> poisson.mean().numpy()
    array([[2., 3.]], dtype=float32)
    """
    tfd = _tfp_distributions()
    (rate,) = _for_tfp(*split_poisson_params(y_pred))
    return _with_event_axis(tfd, tfd.Poisson(rate=rate))


def as_negative_binomial(y_pred):
    """The TFP negative binomial of a `NegativeBinomialHead` output.

    TFP parameterises `tfd.NegativeBinomial` by `total_count` and the
    log-odds `logits` of a success, with `mean = total_count * exp(logits)`.
    So `logits = log(mean) - log(total_count)`, exact, and finite for every
    positive mean and total count (no `mean / (mean + r)` that rounds to 1).
    Shaped as `as_normal` shapes its result.

    Formula:
    ```
    logits = log(mean) - log(total_count)
    p(y) = Gamma(y + r) / (Gamma(r) y!) (r/(r + m))**r (m/(r + m))**y
    ```

    Args:
        y_pred: tensor or array of shape `(..., 2*units)`, the mean then
            the total count.

    Returns:
        A `tfp.distributions.NegativeBinomial` or
        `tfp.distributions.Independent`.

    Example:

    The variance is `mean + mean**2 / total_count`:

    >>> import keras_softplus
    >>> nb = keras_softplus.distributions.as_negative_binomial([[4.0, 2.0]])
    >>> nb.mean().numpy(), nb.variance().numpy()
    (array([[4.]], dtype=float32), array([[12.]], dtype=float32))
    """
    tfd = _tfp_distributions()
    mean, total_count = split_negative_binomial_params(y_pred)
    total_count, logits = _for_tfp(
        total_count, keras.ops.log(mean) - keras.ops.log(total_count)
    )
    return _with_event_axis(
        tfd, tfd.NegativeBinomial(total_count=total_count, logits=logits)
    )


def as_gamma(y_pred):
    """The TFP Gamma distribution of a `GammaHead` output.

    `tfd.Gamma(concentration, rate)`, shaped as `as_normal` shapes its
    result.

    Formula:
    ```
    p(y) = rate**a y**(a - 1) exp(-rate y) / Gamma(a)       a: concentration
    ```

    Args:
        y_pred: `(..., 2*units)`, concentrations then rates.

    Returns:
        `tfp.distributions.Gamma`, in an `Independent` when `units > 1`.

    Example:

    >>> from keras_softplus import distributions
    >>> distributions.as_gamma([[3.0, 2.0]]).mean().numpy()  # 3 / 2
    array([[1.5]], dtype=float32)
    """
    tfd = _tfp_distributions()
    concentration, rate = _for_tfp(*split_gamma_params(y_pred))
    return _with_event_axis(tfd, tfd.Gamma(concentration=concentration, rate=rate))


__all__ = [
    "as_gamma",
    "as_mixture",
    "as_negative_binomial",
    "as_normal",
    "as_poisson",
    "as_student_t",
    "split_normal_params",
]
