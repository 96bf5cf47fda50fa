"""Keras losses of the distribution heads: thin wrappers of `ops` functions.

Each loss wraps the public per-sample function of its distribution's module,
as Keras pairs `MeanSquaredError` with `mean_squared_error`. Written with
`keras.ops`; needs no TensorFlow Probability.
"""

import keras

from keras_softplus._registration import register_public
from keras_softplus._validation import real_number
from keras_softplus.ops.normal import normal_nll


class _FunctionLoss(keras.losses.Loss):
    """A loss whose per-sample values are `fn(y_true, y_pred, **fn_kwargs)`.

    The config holds the loss arguments and `fn_kwargs` (not `fn`, which
    each subclass fixes), so subclasses load with `cls(**config)`.
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


__all__ = ["NormalNLL"]
