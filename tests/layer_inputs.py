"""Random float32 inputs and the float64 softplus reference of the layer tests."""

import numpy as np
from input_grids import seeded_normal


def softplus64(x, beta=1.0):
    """`log1p(exp(beta*x))/beta` in float64, by NumPy's stable `logaddexp`."""
    return np.logaddexp(0.0, beta * np.asarray(x, np.float64)) / beta


def rng_normal(shape, seed=0, scale=1.0):
    """Normal samples times `scale`, float32, from a seeded generator."""
    return seeded_normal(shape, seed, scale)
