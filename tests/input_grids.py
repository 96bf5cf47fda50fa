"""Inputs shared by the tests and the benchmarks: the beta grid, seeded
random inputs, and the accuracy grids of every backend."""

import ml_dtypes
import numpy as np

# The betas of the accuracy tests and benchmarks: from blunt to sharp.
BETAS = [0.05, 0.3, 1.0, 7.0, 50.0]


def seeded_normal(shape, seed=0, scale=1.0, dtype="float32"):
    """Normal samples times `scale`, in `dtype`, from a seeded generator."""
    samples = np.random.default_rng(seed).normal(size=shape) * scale
    return samples.astype(dtype)


def accuracy_grid(points_per_sign=1500):
    """x in +-[1e-6, 3e3], log-spaced, plus 0 (the issue's accuracy grid)."""
    magnitudes = np.logspace(-6, np.log10(3e3), points_per_sign)
    return np.concatenate([-magnitudes[::-1], [0.0], magnitudes])


def extreme_magnitudes(numpy_dtype):
    """Zero, subnormal, tiny, eps, moderate and huge finite magnitudes."""
    info = ml_dtypes.finfo(numpy_dtype)
    magnitudes = [
        0.0,
        float(info.smallest_subnormal),
        float(info.tiny),
        float(info.eps),
        0.5,
        1.0,
        20.0,
        88.0,
        710.0,
        1e5,
        float(info.max) / 2,
        float(info.max),
    ]
    return [m for m in magnitudes if m <= float(info.max)]
