"""Softplus activations that save and reload as this package's own.

`keras.layers.Dense(activation=keras_softplus.ops.softplus)` saves the
function under its registered name `keras_softplus>softplus`, so it reloads
as this package's softplus (beta = 1), not as Keras' `"softplus"`.
`FixedBetaSoftplus(beta)` is the activation with a fixed sharpness other
than 1, its beta kept in the layer's config.
"""

from keras_softplus import ops
from keras_softplus._registration import register_public
from keras_softplus.ops._validation import positive_number

softplus = register_public(ops.softplus)


@register_public
class FixedBetaSoftplus:
    """Softplus activation with a fixed sharpness `beta`, serializable.

    For a learned beta use the layer `keras_softplus.layers.BetaSoftplus`.
    This is the activation-function form: pass it as any layer's
    `activation=`; it saves as `keras_softplus>FixedBetaSoftplus` with its
    beta, and reloads with `safe_mode=True`.

    Formula:
    ```
    f(x) = log(1 + exp(beta * x)) / beta
    ```

    Args:
        beta: the sharpness, a finite float > 0 that does not overflow the
            dtype of the inputs.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> import keras_softplus
    >>> activation = keras_softplus.activations.FixedBetaSoftplus(beta=2.0)
    >>> activation(np.array([-1.0, 0.0, 2.0], "float32")).numpy()
    array([0.0634..., 0.3465..., 2.0090...], dtype=float32)
    >>> keras.layers.Dense(3, activation=activation).get_config()["activation"][
    ...     "registered_name"]
    'keras_softplus>FixedBetaSoftplus'
    """

    def __init__(self, beta=1.0):
        self.beta = positive_number(beta, "beta")

    def __call__(self, x):
        return ops.softplus(x, self.beta)

    def get_config(self):
        return {"beta": self.beta}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"FixedBetaSoftplus(beta={self.beta!r})"


__all__ = ["FixedBetaSoftplus", "softplus"]
