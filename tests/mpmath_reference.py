"""The 50-digit mpmath reference for the softplus family, and ulp errors.

The tests (`import mpmath_reference`, tests/ is on pytest's `pythonpath`),
the benchmarks (`benchmarks/accuracy_report.py`) and the docs plots
(`docs/make_plots.py`, `from tests import mpmath_reference`) measure the ops
against this one test-support module; it is not part of the installed
package. It imports mpmath, which comes with the `test` and `docs` extras
(`pip install keras-softplus[test]`), and works at 50 digits.
"""

import functools

import mpmath
import numpy as np

mpmath.mp.dps = 50  # this module sets the precision of its callers too


def _parts(x, beta):
    z = mpmath.mpf(float(x)) * mpmath.mpf(float(beta))
    a = abs(z)
    e = mpmath.exp(-a)
    return z, a, e


@functools.cache
def softplus_and_partials(x, beta):
    """`(value, d/dx, d/dbeta)` at float inputs, as mpmath numbers.

    d/dbeta uses the cancellation-free g(z) = -(|z|*sigmoid(-|z|) +
    log1p(exp(-|z|))): at 50 digits the naive z*sigmoid(z) - softplus(z)
    still cancels for z above about 115.
    """
    z, a, e = _parts(x, beta)
    beta = mpmath.mpf(float(beta))
    log1p_e = mpmath.log1p(e)
    softplus_z = log1p_e + (z if z > 0 else 0)
    sigmoid_z = 1 / (1 + e) if z >= 0 else e / (1 + e)
    g = -(a * e / (1 + e) + log1p_e)
    return softplus_z / beta, sigmoid_z, g / beta**2


@functools.cache
def softplus_inverse_and_partials(y, beta):
    """`(value, d/dy, d/dbeta)` of `log(expm1(beta*y))/beta`, `y > 0`.

    d/dy = exp(w)/expm1(w) = 1/(-expm1(-w)), w = beta*y;
    d/dbeta = (y*d/dy - value)/beta.
    """
    y, beta = mpmath.mpf(float(y)), mpmath.mpf(float(beta))
    w = y * beta
    value = mpmath.log(mpmath.expm1(w)) / beta
    dy = 1 / -mpmath.expm1(-w)
    return value, dy, (y * dy - value) / beta


def softplus_inverse(y, beta):
    return softplus_inverse_and_partials(y, beta)[0]


@functools.cache
def softminus_inverse_and_partials(y, beta):
    """`(value, d/dy, d/dbeta)` of `y - log(-expm1(beta*y))/beta`, `y < 0`,
    from its own formula (not from `softplus_inverse`)."""
    y, beta = mpmath.mpf(float(y)), mpmath.mpf(float(beta))
    w = y * beta
    value = y - mpmath.log(-mpmath.expm1(w)) / beta
    dy = 1 / -mpmath.expm1(w)
    return value, dy, (y * dy - value) / beta


def ulp_errors(approx, exact, dtype):
    """Errors of `approx` in ulps of `exact` in `dtype` (float32/float64).

    An absolute error below the dtype's smallest normal number counts as 0.
    """
    info = np.finfo(dtype)
    tiny = mpmath.mpf(float(info.tiny))
    errors = []
    for value, reference in zip(np.ravel(approx), exact, strict=False):
        error = abs(mpmath.mpf(float(value)) - reference)
        if error < tiny:
            errors.append(0.0)
            continue
        magnitude = max(abs(reference), tiny)
        exponent = int(mpmath.floor(mpmath.log(magnitude, 2)))
        errors.append(float(error / mpmath.ldexp(1, exponent - info.nmant)))
    return np.array(errors)


def round_to(values, dtype):
    """mpmath numbers correctly rounded to a NumPy dtype (via float64 and
    round-to-nearest; double rounding cannot matter at 50 digits unless the
    value sits on a tie, which these transcendental values do not)."""
    return np.array([float(v) for v in values]).astype(dtype)
