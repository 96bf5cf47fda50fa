"""Keras metrics of a `NormalHead` output, `y_pred = (loc, scale)`.

- `NormalNLLMetric`: mean negative log-likelihood (summed over units per
  sample, as `keras_softplus.losses.NormalNLL` with `beta_nll=0`).
- `NormalMeanRMSE`: root mean squared error of the predicted mean (`loc`).
- `NormalCRPS`: mean closed-form continuous ranked probability score of
  the Normal (averaged over units, in the units of `y_true`).

Each is a registered `keras.metrics.Metric` (`keras_softplus>Name`), takes
`sample_weight`, and needs no TensorFlow Probability.
"""

import math

import keras

from keras_softplus._registration import register_public
from keras_softplus.distributions import split_normal_params
from keras_softplus.losses import _align_targets
from keras_softplus.losses import _normal_nll_terms

_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_TWO = 1.0 / math.sqrt(2.0)
_INV_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)


def _params(metric, y_true, y_pred):
    y_pred = keras.ops.convert_to_tensor(y_pred, metric.dtype)
    loc, scale = split_normal_params(y_pred)
    return _align_targets(keras.ops.convert_to_tensor(y_true), loc), loc, scale


def _normal_crps(y_true, loc, scale):
    """Elementwise closed-form CRPS of `Normal(loc, scale)` at `y_true`."""
    z = (y_true - loc) / scale
    cdf_term = z * keras.ops.erf(z * _INV_SQRT_TWO)  # z * (2*Phi(z) - 1)
    pdf = _INV_SQRT_TWO_PI * keras.ops.exp(-0.5 * keras.ops.square(z))
    return scale * (cdf_term + 2.0 * pdf - _INV_SQRT_PI)


@register_public
class NormalNLLMetric(keras.metrics.Mean):
    """Mean negative log-likelihood of `y_true` under the predicted Normal.

    Formula:
    ```
    nll = sum over units of 0.5*log(2*pi) + log(scale) + 0.5*((y - loc)/scale)**2
    result = weighted mean over samples of nll
    ```
    The plain NLL (no beta-NLL weighting), whatever `beta_nll` the loss uses,
    so that models trained with different `beta_nll` compare.

    Args:
        name: name of the metric.
        dtype: dtype of the metric's computation.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.NormalNLLMetric()
    >>> metric.update_state(np.array([[0.0], [3.0]]),
    ...                     np.array([[0.0, 1.0], [1.0, 2.0]]))
    >>> float(metric.result())
    1.5155...
    """

    def __init__(self, name="normal_nll", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, loc, scale = _params(self, y_true, y_pred)
        values = keras.ops.sum(_normal_nll_terms(y_true, loc, scale), axis=-1)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_public
class NormalMeanRMSE(keras.metrics.Mean):
    """Root mean squared error of the predicted mean, the `loc`.

    Formula:
    ```
    result = sqrt(weighted mean over samples of mean over units of (y - loc)**2)
    ```

    Args:
        name: name of the metric.
        dtype: dtype of the metric's computation.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.NormalMeanRMSE()
    >>> metric.update_state(np.array([[0.0], [3.0]]),
    ...                     np.array([[0.0, 1.0], [1.0, 2.0]]))
    >>> float(metric.result())
    1.4142...
    """

    def __init__(self, name="normal_mean_rmse", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, loc, _ = _params(self, y_true, y_pred)
        squared_error = keras.ops.square(y_true - loc)
        return super().update_state(squared_error, sample_weight=sample_weight)

    def result(self):
        return keras.ops.sqrt(super().result())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_public
class NormalCRPS(keras.metrics.Mean):
    """Mean continuous ranked probability score of the predicted Normal.

    The CRPS generalises the absolute error to a predictive distribution
    (lower is better, in the units of `y_true`); for a point mass it is the
    absolute error. Closed form for a Normal (Gneiting et al., 2005):

    Formula:
    ```
    CRPS(N(loc, scale), y) = integral (F(x) - 1{x >= y})**2 dx
                           = scale * (z*(2*Phi(z) - 1) + 2*phi(z) - 1/sqrt(pi))
    z = (y - loc) / scale,  Phi, phi: standard Normal CDF and density
    result = weighted mean over samples of mean over units of CRPS
    ```

    Args:
        name: name of the metric.
        dtype: dtype of the metric's computation.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> metric = keras_softplus.metrics.NormalCRPS()
    >>> metric.update_state(np.array([[0.0]]), np.array([[0.0, 1.0]]))
    >>> float(metric.result())  # (sqrt(2) - 1) / sqrt(pi)
    0.2336...

    Reference:
    - [Gneiting et al., 2005](https://doi.org/10.1175/MWR2904.1)
    """

    def __init__(self, name="normal_crps", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, loc, scale = _params(self, y_true, y_pred)
        crps = _normal_crps(y_true, loc, scale)
        return super().update_state(crps, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


__all__ = ["NormalCRPS", "NormalMeanRMSE", "NormalNLLMetric"]
