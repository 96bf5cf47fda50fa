"""The Gamma distribution of a `GammaHead` output: split, mean, NLL.

`keras_softplus.losses.GammaNLL` and its metric wrap these functions;
`keras_softplus.distributions.as_gamma` builds the TFP distribution. The
NLL is written in Loader's saddle-point form with the special functions of
`keras_softplus.ops.special`, so at large concentrations it is a sum of
O(1) terms. Written with `keras.ops`, so every backend runs them.
"""

import keras

from keras_softplus.ops._constants import HALF_LOG_TWO_PI
from keras_softplus.ops.parameters import GAMMA_PARAMETERS
from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import split_parameters
from keras_softplus.ops.special import log_gamma
from keras_softplus.ops.special import saddle_point_deviance
from keras_softplus.ops.special import stirling_error
from keras_softplus.ops.support import check_support
from keras_softplus.ops.support import is_positive_normal
from keras_softplus.ops.support import supported


def split_gamma_params(y_pred):
    """Splits a `GammaHead` output `(..., 2*units)` into `(concentration, rate)`.

    Formula:
    ```
    concentration = y_pred[..., :units]
    rate          = y_pred[..., units:]      units = y_pred.shape[-1] // 2
    ```

    Args:
        y_pred: tensor or array of shape `(..., 2*units)`.

    Returns:
        A tuple `(concentration, rate)` of tensors of shape `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import split_gamma_params
    >>> concentration, rate = split_gamma_params(np.array([[2.0, 0.5]]))
    >>> float(concentration[0, 0]), float(rate[0, 0])
    (2.0, 0.5)
    """
    return split_parameters(y_pred, GAMMA_PARAMETERS, "GammaHead")


def gamma_mean(y_pred):
    """The mean `concentration / rate` of a `GammaHead` output, `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import gamma_mean
    >>> gamma_mean(np.array([[3.0, 2.0]], "float32")).numpy()
    array([[1.5]], dtype=float32)
    """
    concentration, rate = split_gamma_params(y_pred)
    return concentration / rate


def gamma_nll(y_true, y_pred):
    """Per-sample negative log-likelihood of a `GammaHead` output.

    Summed over the `units` axis; equals `-as_gamma(y_pred).log_prob(y_true)`
    (summed over the unit axis when `units == 1`). Targets must be `> 0`.

    Formula:
    ```
    nll = lgamma(a) - a*log(b) - (a - 1)*log(y) + b*y        a: concentration
        = saddle_point_deviance(a, b*y) + log(y)             b: rate
          + log(2*pi/a)/2 + stirling_error(a)
    ```
    The second form (Loader's) is what is computed, with `log(b*y)` as
    `log(b) + log(y)` (the product underflows for y = 1e-30 and b = 1e-9):
    it has no difference of large terms, so float32 keeps its accuracy for
    concentrations of 1e4 and targets from 1e-30 to 1e30, and the gradients
    are finite there.

    A target that is not a finite positive normal number (`<= 0`, `inf`, or
    subnormal: below 1.2e-38 in float32) is outside the support: eagerly
    (values known) it raises a ValueError; inside a compiled function, where
    values are unknown, it gives NaN.

    Args:
        y_true: positive targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `GammaHead` output, `(..., 2*units)`.

    Returns:
        A tensor of shape `(...)`.

    Raises:
        ValueError: for known targets outside the support.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.gamma import gamma_nll
    >>> gamma_nll(np.array([[1.0]], "float32"),
    ...           np.array([[1.0, 1.0]], "float32")).numpy()  # Exponential
    array([1.], dtype=float32)

    Reference:
    - [Loader, 2000](https://www.r-project.org/doc/reports/CLoader-dbinom-2002.pdf)
    """
    concentration, rate = split_gamma_params(y_pred)
    y_true = align_targets(y_true, concentration)
    valid = supported(
        y_true, "y_true", "> 0, finite and not subnormal", is_positive_normal
    )
    y_safe = keras.ops.where(valid, y_true, keras.ops.ones_like(y_true))
    log_y = keras.ops.log(y_safe)
    nll = (
        saddle_point_deviance(
            concentration, rate * y_safe, log_m=keras.ops.log(rate) + log_y
        )
        + log_y
        + HALF_LOG_TWO_PI
        - 0.5 * keras.ops.log(concentration)
        + stirling_error(concentration)
    )
    nan = keras.ops.full_like(nll, float("nan"))
    return keras.ops.sum(keras.ops.where(valid, nll, nan), axis=-1)


__all__ = [
    "check_support",
    "gamma_mean",
    "gamma_nll",
    "log_gamma",
    "saddle_point_deviance",
    "split_gamma_params",
    "stirling_error",
]
