"""Keras metrics of the distribution heads: thin wrappers of `ops` functions.

Each metric is a `MeanMetricWrapper` around the public function of its
distribution's module, as Keras pairs `MeanSquaredError` with
`mean_squared_error`. Each is registered (`keras_softplus>Name`), takes
`sample_weight`, and needs no TensorFlow Probability.
"""

import keras

from keras_softplus._registration import register_public
from keras_softplus.ops.normal import normal_crps
from keras_softplus.ops.normal import normal_mean_squared_error
from keras_softplus.ops.normal import normal_nll


class _LowerIsBetter(keras.metrics.MeanMetricWrapper):
    """A mean of a per-sample function of `(y_true, y_pred)`, minimised.

    Subclasses pass their function and default name; the config holds only
    `name` and `dtype`, as for Keras' own wrapped metrics.
    """

    def __init__(self, fn, name, dtype):
        super().__init__(fn=fn, name=name, dtype=dtype)
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_public
class NormalNLLMetric(_LowerIsBetter):
    """Mean negative log-likelihood of `y_true` under the predicted Normal.

    Wraps `keras_softplus.ops.normal.normal_nll` (summed over units per
    sample). The plain NLL (no beta-NLL weighting), whatever `beta_nll` the
    loss uses, so that models trained with different `beta_nll` compare.

    Formula:
    ```
    nll = sum over units of 0.5*log(2*pi) + log(scale) + 0.5*((y - loc)/scale)**2
    result = weighted mean over samples of nll
    ```

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
        super().__init__(normal_nll, name=name, dtype=dtype)


@register_public
class NormalMeanRMSE(_LowerIsBetter):
    """Root mean squared error of the predicted mean, the `loc`.

    Wraps `keras_softplus.ops.normal.normal_mean_squared_error`, and takes
    the square root of the mean.

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
        super().__init__(normal_mean_squared_error, name=name, dtype=dtype)

    def result(self):
        return keras.ops.sqrt(super().result())


@register_public
class NormalCRPS(_LowerIsBetter):
    """Mean continuous ranked probability score of the predicted Normal.

    Wraps `keras_softplus.ops.normal.normal_crps`, the closed form of
    Gneiting et al. (2005), averaged over units (lower is better, in the
    units of `y_true`).

    Formula:
    ```
    CRPS(N(loc, scale), y) = scale * (z*(2*Phi(z) - 1) + 2*phi(z) - 1/sqrt(pi))
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
        super().__init__(normal_crps, name=name, dtype=dtype)


__all__ = ["NormalCRPS", "NormalMeanRMSE", "NormalNLLMetric"]
