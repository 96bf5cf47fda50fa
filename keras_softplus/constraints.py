"""Kept import path of `SoftplusPositive`, which lives in `positivity`.

`SoftplusPositive` is a reparameterisation, not a Keras constraint (see its
docstring); it moved to `keras_softplus.positivity` in 0.2.0 and stays
importable from here, under the same registered name.
"""

from keras_softplus.positivity import SoftplusPositive

__all__ = ["SoftplusPositive"]
