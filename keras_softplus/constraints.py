"""`SoftplusPositive`: positivity by softplus reparameterisation.

Keras 3 has no softplus constraint, and `keras.constraints.NonNeg` only clips
a weight after each optimizer step, so the weight can land on exactly 0.
`SoftplusPositive` instead maps an unconstrained raw value to
`(min_value, inf)`; it is used as an `activation=`, and as the `positive=`
mapping of `keras_softplus.layers.PositiveDense`.
"""

import math

import keras

from keras_softplus import ops
from keras_softplus._registration import register_public


def _validated_float(value, name):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a real number. Received: {name}={value!r}"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value!r}")
    return number


@register_public
class SoftplusPositive:
    """Positive reparameterisation `p = min_value + softplus(raw, beta)`.

    Maps any real `raw` to `(min_value, inf)`, smoothly and with a gradient
    that never vanishes at a finite point, and maps back with `inverse`.

    Formula:
    ```
    p   = min_value + softplus(raw, beta)
        = min_value + log(1 + exp(beta * raw)) / beta
    raw = inverse(p) = softplus_inverse(p - min_value, beta)
    ```
    `p > min_value` mathematically; in floating point `p == min_value` only
    where `softplus(raw, beta)` underflows (`raw` very negative). `p` is
    finite for every finite `raw`.

    Uses:
    - As any layer's `activation=`, e.g.
      `keras.layers.Dense(3, activation=SoftplusPositive(0.1))`, mapping the
      outputs to `(0.1, inf)`. It is registered as
      `keras_softplus>SoftplusPositive` and serializes inside the layer's
      config.
    - As the `positive=` mapping of `keras_softplus.layers.PositiveDense`,
      whose kernel is stored raw and used as `positive(raw)`.

    Why this is not a `keras.constraints.Constraint`: a Keras constraint is a
    projection, applied to the variable after every optimizer step
    (`w <- constraint(w)`), so it must be idempotent. Softplus is not:
    applying it after every step would replace `w` by `softplus(w)`, then
    `softplus(softplus(w))`, and so on, drifting the weight even with zero
    gradient. Positivity by softplus is a reparameterisation: the stored
    variable stays raw and the layer uses `softplus(raw)`, which is what
    `PositiveDense` does. Passing a `SoftplusPositive` as a
    `kernel_constraint` or `bias_constraint` (or any variable's
    `constraint`) therefore raises a `ValueError` that points to
    `PositiveDense`, at the first optimizer step (Keras gives a constraint no
    earlier hook). For a projection use `keras.constraints.NonNeg`.

    Args:
        min_value: lower bound, a finite float >= 0.
        beta: sharpness of the softplus, a finite float > 0.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> positive = keras_softplus.constraints.SoftplusPositive(min_value=0.1)
    >>> p = positive(np.array([-5.0, 0.0, 3.0], dtype="float32"))
    >>> p.numpy()
    array([0.1067..., 0.7931..., 3.1485...], dtype=float32)
    >>> positive.inverse(p).numpy()
    array([-5., 0., 3.], dtype=float32)
    >>> positive(np.array([-200.0], dtype="float32")).numpy()  # underflow
    array([0.1], dtype=float32)
    """

    def __init__(self, min_value=0.0, beta=1.0):
        min_value = _validated_float(min_value, "min_value")
        beta_value = _validated_float(beta, "beta")
        if min_value < 0:
            raise ValueError(
                f"`min_value` must be >= 0. Received: min_value={min_value!r}"
            )
        if beta_value <= 0:
            raise ValueError(f"`beta` must be > 0. Received: beta={beta!r}")
        self._min_value = min_value
        self._beta = beta_value

    @property
    def min_value(self):
        """The lower bound of the outputs, a float."""
        return self._min_value

    @property
    def beta(self):
        """The softplus sharpness, a float."""
        return self._beta

    def __call__(self, x):
        """Maps `x` to `min_value + softplus(x, beta)`, same dtype as `x`."""
        if isinstance(x, keras.Variable) and getattr(x, "constraint", None) is self:
            raise ValueError(
                "`SoftplusPositive` was used as the constraint of the variable "
                f"'{x.path}' (e.g. as `kernel_constraint=`). A Keras constraint "
                "is a projection applied after every optimizer step, and "
                "applying softplus after every step would drift the weight. "
                "Positivity by softplus is a reparameterisation: use "
                "`keras_softplus.layers.PositiveDense(units, "
                f"positive=SoftplusPositive(min_value={self._min_value}, "
                f"beta={self._beta}))` for a positive kernel, or "
                "`keras.constraints.NonNeg()` for a projection."
            )
        return ops.softplus(x, self._beta) + self._min_value

    def inverse(self, p):
        """The raw value whose image is `p`: `softplus_inverse(p - min_value)`.

        Defined for `p > min_value`; `p == min_value` gives `-inf` and
        `p < min_value` gives NaN, as `softplus_inverse` does at and below 0.

        Args:
            p: floating-point tensor (or array-like of floats).

        Returns:
            A tensor of the dtype of `p`.
        """
        p = keras.ops.convert_to_tensor(p)
        if not keras.backend.is_float_dtype(p.dtype):
            raise TypeError(
                "`p` must be a floating-point tensor. "
                f"Received: p.dtype={keras.backend.standardize_dtype(p.dtype)}"
            )
        return ops.softplus_inverse(p - self._min_value, self._beta)

    def get_config(self):
        return {"min_value": self._min_value, "beta": self._beta}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (
            f"SoftplusPositive(min_value={self._min_value!r}, "
            f"beta={self._beta!r})"
        )


__all__ = ["SoftplusPositive"]
