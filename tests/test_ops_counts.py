"""Tests of `keras_softplus.ops.counts`: Loader's normalizer and the count
CRPS over its window, against scipy's full series."""

import numpy as np
import pytest
import scipy.special
from scipy import stats

from keras_softplus.ops.counts import count_log_normalizer
from keras_softplus.ops.poisson import poisson_crps

TOLERANCES = {"float32": 3e-5, "float64": 1e-9}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_normalizer_is_lgamma_minus_the_stirling_main_terms(dtype):
    y = np.array([0.0, 1.0, 2.0, 7.0, 100.0, 1e4, 1e7])
    safe = np.maximum(y, 1.0)
    expected = scipy.special.gammaln(y + 1) - np.where(y > 0, y * np.log(safe) - y, 0.0)
    got = count_log_normalizer(y.astype(dtype)).numpy()
    np.testing.assert_allclose(got, expected, rtol=TOLERANCES[dtype])


def full_series_crps(distribution, y):
    """sum_k (F(k) - 1{y <= k})**2 over the whole support that matters."""
    mean, sd = distribution.mean(), distribution.std()
    k = np.arange(0, int(max(mean + 40 * sd, y)) + 50)
    return float(np.sum((distribution.cdf(k) - (y <= k)) ** 2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "rate, y",
    [
        pytest.param(2.0, 2, id="small_rate"),
        pytest.param(5000.0, 5000, id="rate_5000_in_a_window_of_1000"),
        pytest.param(5000.0, 100, id="target_below_the_window"),
        pytest.param(5000.0, 10**5, id="target_above_the_window"),
    ],
)
def test_crps_window_matches_the_full_series(dtype, rate, y):
    got = float(poisson_crps(np.array([[y]], dtype), np.array([[rate]], dtype))[0])
    expected = full_series_crps(stats.poisson(rate), y)
    assert abs(got - expected) <= TOLERANCES[dtype] * (1 + expected)


def test_crps_is_nan_where_the_window_misses_mass():
    # sd = 141: 1000 counts reach 3.5 sd, missing 5e-4 of the mass.
    got = poisson_crps(np.array([[2e4]], "float32"), np.array([[2e4]], "float32"))
    assert np.isnan(got.numpy()).all()
    wider = poisson_crps(
        np.array([[2e4]], "float32"), np.array([[2e4]], "float32"), support_size=3000
    )
    expected = full_series_crps(stats.poisson(2e4), 20000)
    assert abs(float(wider[0]) - expected) <= 3e-5 * (1 + expected)


@pytest.mark.parametrize("support_size", [0, 2**24 + 1, 1.5, float("inf")])
def test_support_size_is_checked(support_size):
    with pytest.raises(ValueError, match="`support_size` must be"):
        poisson_crps([[1.0]], [[1.0]], support_size=support_size)
