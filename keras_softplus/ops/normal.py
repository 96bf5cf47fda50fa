"""The Normal distribution of a `NormalHead` output: split, NLL and CRPS.

The one place of the package's Normal math. `keras_softplus.losses.NormalNLL`
and the Normal metrics wrap these functions; `keras_softplus.distributions`
builds TFP distributions from `split_normal_params`. Written with
`keras.ops`, so every backend runs them, and none needs TensorFlow
Probability.
"""

import keras

from keras_softplus.ops._constants import HALF_LOG_TWO_PI
from keras_softplus.ops.parameters import NORMAL_PARAMETERS
from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import mean_over_units
from keras_softplus.ops.parameters import split_parameters
from keras_softplus.ops.special import normal_crps as centred_normal_crps


def split_normal_params(y_pred):
    """Splits a `NormalHead` output `(..., 2*units)` into `(loc, scale)`.

    Formula:
    ```
    loc   = y_pred[..., :units]
    scale = y_pred[..., units:]      units = y_pred.shape[-1] // 2
    ```

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
    >>> from keras_softplus.ops.normal import split_normal_params
    >>> loc, scale = split_normal_params(
    ...     np.array([[1.0, 2.0, 0.5, 0.25]], dtype="float32"))
    >>> loc.numpy(), scale.numpy()
    (array([[1., 2.]], dtype=float32), array([[0.5 , 0.25]], dtype=float32))
    """
    return split_parameters(y_pred, NORMAL_PARAMETERS, "NormalHead")


def normal_nll(y_true, y_pred, beta_nll=0.0):
    """Per-sample negative log-likelihood of a `NormalHead` output.

    Summed over the `units` axis, so with `beta_nll=0` it equals
    `-as_normal(y_pred).log_prob(y_true)` (summed over the unit axis when
    `units == 1`). With `beta_nll > 0` it is the beta-NLL of Seitzer et al.
    (2022): each term is weighted by `stop_gradient(scale**2)**beta_nll`,
    which undoes the `1/scale**2` damping of the loc gradient for points fit
    with a large scale.

    Formula:
    ```
    z   = (y_true - loc) / scale
    nll = sum over units of
          stop_gradient(scale**2)**beta_nll * (0.5*log(2*pi) + log(scale) + 0.5*z**2)
    ```
    `z` is formed before squaring, so scales at `NormalHead`'s `min_scale`
    and outliers many scales away (1e6 in float32) give finite values and
    gradients.

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `NormalHead` output, `(..., 2*units)`.
        beta_nll: weight exponent in `[0, 1]` (a Python float).

    Returns:
        The per-sample NLL, a tensor of shape `(...)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.normal import normal_nll
    >>> normal_nll(np.array([[0.0], [3.0]], "float32"),
    ...            np.array([[0.0, 1.0], [1.0, 2.0]], "float32")).numpy()
    array([0.9189385, 2.1120857], dtype=float32)

    Reference:
    - [Nix & Weigend, 1994](https://doi.org/10.1109/ICNN.1994.374138)
    - [Seitzer et al., ICLR 2022](https://arxiv.org/abs/2203.09168)
    """
    loc, scale = split_normal_params(y_pred)
    z = (align_targets(y_true, loc) - loc) / scale
    terms = HALF_LOG_TWO_PI + keras.ops.log(scale) + 0.5 * keras.ops.square(z)
    if beta_nll > 0:
        weight = keras.ops.power(keras.ops.stop_gradient(scale), 2.0 * beta_nll)
        terms = terms * weight
    return keras.ops.sum(terms, axis=-1)


def normal_crps(y_true, y_pred):
    """Per-sample closed-form CRPS of a `NormalHead` output, mean over units.

    The continuous ranked probability score generalises the absolute error
    to a predictive distribution (lower is better, in the units of
    `y_true`); for a point mass it is the absolute error.

    Formula:
    ```
    CRPS(N(loc, scale), y) = scale * (z*(2*Phi(z) - 1) + 2*phi(z) - 1/sqrt(pi))
    z = (y - loc) / scale,  Phi, phi: standard Normal CDF and density
    ```
    computed by `keras_softplus.ops.special.normal_crps`: `z*(2*Phi(z) - 1)`
    as `z*erf(z/sqrt(2))`, which keeps its relative accuracy near `z = 0`,
    and `|y - loc| - scale/sqrt(pi)` in the far tails, so scales down to
    1e-30 keep finite gradients.

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `NormalHead` output, `(..., 2*units)`.

    Returns:
        The per-sample CRPS, `(...)`, in the units of `y_true`.

    Example:

    >>> from keras_softplus.ops.normal import normal_crps
    >>> float(normal_crps([[0.0]], [[0.0, 1.0]])[0])  # (sqrt(2) - 1) / sqrt(pi)
    0.2336...

    Reference:
    - [Gneiting et al., 2005](https://doi.org/10.1175/MWR2904.1)
    """
    loc, scale = split_normal_params(y_pred)
    y_true = align_targets(y_true, loc)
    return mean_over_units(centred_normal_crps(y_true - loc, scale))


def normal_mean_squared_error(y_true, y_pred):
    """Per-sample squared error of the predicted mean (`loc`), mean over units.

    Formula:
    ```
    mean over units of (y_true - loc)**2
    ```

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `NormalHead` output, `(..., 2*units)`.

    Returns:
        `(...)`: the squared errors, averaged over the units.

    Example:

    The scale plays no part:

    >>> from keras_softplus.ops.normal import normal_mean_squared_error
    >>> normal_mean_squared_error([[0.0], [3.0]], [[0.0, 1.0], [1.0, 2.0]]).numpy()
    array([0., 4.], dtype=float32)
    """
    loc, _ = split_normal_params(y_pred)
    y_true = align_targets(y_true, loc)
    return mean_over_units(keras.ops.square(y_true - loc))
