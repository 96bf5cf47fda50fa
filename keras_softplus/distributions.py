"""From a `NormalHead` output to Normal parameters and distributions.

`split_normal_params` uses `keras.ops` only. `as_normal` imports TensorFlow
Probability when it is first called, not when this module is imported, so
the heads, `NormalNLL` and the metrics work without TFP installed. TFP's
Keras layers (`tfp.layers`) are not used: they need Keras 2 (`tf_keras`).
"""

import keras


def split_normal_params(y_pred):
    """Splits a `NormalHead` output `(..., 2*units)` into `(loc, scale)`.

    Formula:
    ```
    loc   = y_pred[..., :units]
    scale = y_pred[..., units:]      units = y_pred.shape[-1] // 2
    ```
    Needs no TensorFlow Probability.

    Args:
        y_pred: tensor or array of shape `(..., 2*units)`, the last axis
            statically known and even.

    Returns:
        A tuple `(loc, scale)` of tensors of shape `(..., units)`.

    Raises:
        ValueError: when the last axis is unknown, odd, or the input is a
            scalar.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> loc, scale = keras_softplus.distributions.split_normal_params(
    ...     np.array([[1.0, 2.0, 0.5, 0.25]], dtype="float32"))
    >>> loc.numpy(), scale.numpy()
    (array([[1., 2.]], dtype=float32), array([[0.5 , 0.25]], dtype=float32))
    """
    y_pred = keras.ops.convert_to_tensor(y_pred)
    shape = tuple(y_pred.shape)
    if not shape or shape[-1] is None or shape[-1] % 2:
        raise ValueError(
            "`y_pred` must have a statically known, even last axis "
            "`2*units` (loc, then scale), as output by `NormalHead`. "
            f"Received: y_pred.shape={shape}"
        )
    units = shape[-1] // 2
    return y_pred[..., :units], y_pred[..., units:]


def _tfp_distributions():
    try:
        import tensorflow_probability as tfp
    except ImportError as error:
        raise ImportError(
            "`keras_softplus.distributions.as_normal` needs TensorFlow "
            "Probability: `pip install tensorflow-probability[tf]`. "
            "`split_normal_params` and the losses and metrics do not."
        ) from error
    return tfp.distributions


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
    loc, scale = split_normal_params(y_pred)
    normal = tfd.Normal(loc=loc, scale=scale)
    if loc.shape[-1] == 1:
        return normal
    return tfd.Independent(normal, reinterpreted_batch_ndims=1)


__all__ = ["as_normal", "split_normal_params"]
