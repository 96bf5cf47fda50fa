"""Positivity by softplus reparameterisation, written once.

Everything in the package that must stay positive uses this module: the
`beta` of `BetaSoftplus`, the kernel of `PositiveDense` and the outputs of
`PositiveHead` and the distribution heads. It owns:

- `SoftplusPositive`, the map `raw -> min_value + softplus(raw, beta)`, and
  its inverse;
- `positive_floor`, the smallest value a positive weight may take, derived
  from the dtype;
- `PositiveSpaceInitializer` and `PositiveSpaceRegularizer`, which let a raw
  weight be initialized and regularized through the positive value it
  stands for.

Raw (unconstrained) weights are named `raw_<name>`: `raw_beta`,
`raw_kernel`.
"""

import keras
import numpy as np

from keras_softplus import ops
from keras_softplus._registration import register_public
from keras_softplus.ops._validation import positive_number
from keras_softplus.ops._validation import real_number
from keras_softplus.ops._validation import representable


def positive_floor(dtype):
    """Smallest value a reparameterised positive weight may take.

    Formula:
    ```
    positive_floor(dtype) = eps(dtype)     (2**-23 for float32)
    ```
    Far from 0, so that `1/beta**2` in the gradient of `BetaSoftplus`
    stays finite even where the raw weight's softplus underflows.

    Args:
        dtype: a floating dtype (name or dtype object).

    Returns:
        A Python float.

    Example:

    >>> from keras_softplus.positivity import positive_floor
    >>> positive_floor("float32")
    1.1920928955078125e-07
    """
    return float(np.finfo(np.dtype(keras.backend.standardize_dtype(dtype))).eps)


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
    gradient. Passing a `SoftplusPositive` as a `kernel_constraint` (or any
    variable's `constraint`) therefore raises a `ValueError` that points to
    `PositiveDense`, at the first optimizer step (Keras gives a constraint
    no earlier hook). For a projection use `keras.constraints.NonNeg`.

    Args:
        min_value: lower bound, a finite float >= 0. When it is > 0 it must
            not underflow to 0 in the dtype of the inputs.
        beta: sharpness of the softplus, a finite float > 0 that must not
            overflow the dtype of the inputs.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> positive = keras_softplus.positivity.SoftplusPositive(min_value=0.1)
    >>> p = positive(np.array([-5.0, 0.0, 3.0], dtype="float32"))
    >>> p.numpy()
    array([0.1067..., 0.7931..., 3.1485...], dtype=float32)
    >>> positive.inverse(p).numpy()
    array([-5., 0., 3.], dtype=float32)
    >>> positive(np.array([-200.0], dtype="float32")).numpy()  # underflow
    array([0.1], dtype=float32)
    """

    def __init__(self, min_value=0.0, beta=1.0):
        min_value = real_number(min_value, "min_value")
        beta_value = real_number(beta, "beta")
        if min_value < 0:
            raise ValueError(
                f"`min_value` must be >= 0. Received: min_value={min_value!r}"
            )
        positive_number(beta, "beta")
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

    def check_dtype(self, dtype):
        """Raises a ValueError if `min_value` or `beta` does not survive
        rounding to `dtype` (overflow, or a positive value that becomes 0)."""
        representable(self._min_value, "min_value", dtype)
        representable(self._beta, "beta", dtype)

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
        x = keras.ops.convert_to_tensor(x)
        self.check_dtype(x.dtype)
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

    def inverse_value(self, p):
        """`inverse(p)` of a Python float, computed in float64, as a float.

        For initial values of raw weights, computed once, eagerly, when a
        layer is constructed (its `build` may run inside a traced function).
        """
        return float(keras.ops.convert_to_numpy(self.inverse(np.float64(p))))

    def get_config(self):
        return {"min_value": self._min_value, "beta": self._beta}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"SoftplusPositive(min_value={self._min_value!r}, beta={self._beta!r})"


class PositiveSpaceInitializer:
    """Initializes a raw weight so that its positive value follows `initializer`.

    Samples the positive value and returns `positive.inverse(sample)`. Every
    sample must be `> positive.min_value`; otherwise the raw value would be
    `-inf` or NaN, and a ValueError says which initializer produced what.
    Not serialized: layers keep the user's initializer in their config.

    Args:
        initializer: a Keras initializer of the positive value.
        positive: the `SoftplusPositive` map of the weight.
        argument: the name of the layer argument the initializer came from,
            for error messages.
    """

    def __init__(self, initializer, positive, argument):
        self.initializer = initializer
        self.positive = positive
        self.argument = argument

    def __call__(self, shape, dtype=None):
        sample = self.initializer(shape, dtype=dtype)
        raw = self.positive.inverse(sample)
        try:
            raw_values = keras.ops.convert_to_numpy(raw)
        except Exception:  # Symbolic (traced): no values to check.
            return raw
        if not np.all(np.isfinite(raw_values)):
            lowest = float(np.min(keras.ops.convert_to_numpy(sample)))
            raise ValueError(
                f"`{self.argument}` gives the weight in positive space: every "
                f"sample must be > min_value={self.positive.min_value} (and "
                f"finite). Received: {self.argument}={self.initializer!r}, "
                f"which produced values down to {lowest!r}. Use e.g. "
                "`keras.initializers.RandomUniform(min_value + 0.01, "
                "min_value + 0.1)`."
            )
        return raw


class PositiveSpaceRegularizer:
    """Applies `regularizer` to the positive value `positive(raw)` of a raw
    weight, not to the raw weight itself. Not serialized: layers keep the
    user's regularizer in their config."""

    def __init__(self, regularizer, positive):
        self.regularizer = regularizer
        self.positive = positive

    def __call__(self, raw):
        return self.regularizer(self.positive(keras.ops.convert_to_tensor(raw)))


__all__ = [
    "PositiveSpaceInitializer",
    "PositiveSpaceRegularizer",
    "SoftplusPositive",
    "positive_floor",
]
