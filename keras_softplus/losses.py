"""`NormalNLL`: Gaussian negative log-likelihood, and beta-NLL.

Written with `keras.ops`; needs no TensorFlow Probability.
"""

import math

import keras

from keras_softplus._registration import register_public
from keras_softplus.distributions import split_normal_params

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def _align_targets(y_true, loc):
    """`y_true` in the dtype of `loc`; `(...)` targets get the unit axis."""
    y_true = keras.ops.cast(y_true, loc.dtype)
    if len(y_true.shape) == len(loc.shape) - 1 and loc.shape[-1] == 1:
        y_true = keras.ops.expand_dims(y_true, -1)
    if (
        len(y_true.shape) != len(loc.shape)
        or y_true.shape[-1] is not None
        and loc.shape[-1] is not None
        and y_true.shape[-1] != loc.shape[-1]
    ):
        raise ValueError(
            "`y_true` must have shape `(..., units)` for a `y_pred` of shape "
            f"`(..., 2*units)`. Received: y_true.shape={tuple(y_true.shape)}, "
            f"units={loc.shape[-1]}"
        )
    return y_true


def _normal_nll_terms(y_true, loc, scale):
    """Elementwise `-log Normal(y; loc, scale)`, shape `(..., units)`."""
    z = (y_true - loc) / scale
    return HALF_LOG_TWO_PI + keras.ops.log(scale) + 0.5 * keras.ops.square(z)


@register_public
class NormalNLL(keras.losses.Loss):
    """Negative log-likelihood of `y_true` under the Normal of a `NormalHead`.

    `y_pred` is `(..., 2*units)`, the loc then the scale (see
    `keras_softplus.distributions.split_normal_params`); `y_true` is
    `(..., units)`, or `(...)` when `units == 1`. The per-sample loss sums the
    terms over the `units` axis, so with `beta_nll=0` it equals
    `-as_normal(y_pred).log_prob(y_true)` (summed over the unit axis when
    `units == 1`), the `0.5*log(2*pi)` term included.

    With `beta_nll > 0` it is the beta-NLL of Seitzer et al. (2022): each
    term is weighted by `stop_gradient(scale**2)**beta_nll`, which undoes the
    `1/scale**2` damping of the loc gradient for points fit with a large
    scale. `beta_nll=0.5` is their recommendation; with `beta_nll=1` the
    gradient wrt the loc is `loc - y_true`, half the gradient of the squared
    error, as for MSE.

    Formula:
    ```
    z    = (y_true - loc) / scale
    nll  = 0.5*log(2*pi) + log(scale) + 0.5*z**2
    loss = sum over units of stop_gradient(scale**2)**beta_nll * nll
    ```
    `z` is formed before squaring, so scales at `NormalHead`'s `min_scale`
    and outliers many standard deviations away (1e6 in float32) give finite
    values and gradients.

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
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        try:
            beta_value = float(beta_nll)
        except (TypeError, ValueError):
            raise TypeError(
                f"`beta_nll` must be a real number. Received: beta_nll={beta_nll!r}"
            ) from None
        if not 0.0 <= beta_value <= 1.0:
            raise ValueError(
                f"`beta_nll` must be in [0, 1]. Received: beta_nll={beta_nll!r}"
            )
        self.beta_nll = beta_value

    def call(self, y_true, y_pred):
        loc, scale = split_normal_params(y_pred)
        y_true = _align_targets(y_true, loc)
        terms = _normal_nll_terms(y_true, loc, scale)
        if self.beta_nll > 0:
            weight = keras.ops.power(
                keras.ops.stop_gradient(scale), 2.0 * self.beta_nll
            )
            terms = terms * weight
        return keras.ops.sum(terms, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_nll": self.beta_nll, "dtype": self.dtype})
        return config


__all__ = ["NormalNLL"]
