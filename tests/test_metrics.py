"""Tests of `keras_softplus.metrics`: NLL, RMSE of the mean, CRPS."""

import keras
import mpmath
import numpy as np
import pytest
import scoringrules
from input_grids import seeded_normal

import keras_softplus
from keras_softplus import metrics
from keras_softplus.layers import NormalHead
from keras_softplus.losses import NormalNLL

METRIC_CLASSES = {
    "NormalNLLMetric": metrics.NormalNLLMetric,
    "NormalMeanRMSE": metrics.NormalMeanRMSE,
    "NormalCRPS": metrics.NormalCRPS,
}


def sample(units, batch=7, seed=0):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(batch, units))
    scale = rng.uniform(0.2, 3.0, size=(batch, units))
    y = loc + scale * rng.normal(size=(batch, units)) * 1.5
    return y.astype("float32"), np.concatenate([loc, scale], -1).astype("float32")


def crps_by_quadrature(y, loc, scale):
    """CRPS as the integral of (F(x) - 1{x >= y})**2, by mpmath quadrature."""
    mpmath.mp.dps = 30
    y, loc, scale = (mpmath.mpf(float(v)) for v in (y, loc, scale))
    cdf = lambda x: mpmath.ncdf(x, loc, scale)  # noqa: E731
    below = mpmath.quad(lambda x: cdf(x) ** 2, [-mpmath.inf, loc - 10 * scale, y])
    above = mpmath.quad(lambda x: (1 - cdf(x)) ** 2, [y, loc + 10 * scale, mpmath.inf])
    return float(below + above)


def split(y_pred):
    units = y_pred.shape[-1] // 2
    return y_pred[:, :units].astype(np.float64), y_pred[:, units:].astype(np.float64)


@pytest.mark.parametrize(
    "y, loc, scale",
    [
        (0.0, 0.0, 1.0),
        (2.5, -1.0, 0.3),
        (-4.0, 1.0, 7.0),
        (1e-3, 0.0, 1e-3),
        (40.0, 0.0, 2.0),
    ],
    ids=["centred", "far_right_narrow", "left_wide", "tiny_scale", "outlier"],
)
def test_crps_matches_the_integral_definition(y, loc, scale):
    metric = metrics.NormalCRPS(dtype="float64")
    metric.update_state(np.array([[y]]), np.array([[loc, scale]]))
    np.testing.assert_allclose(
        float(metric.result()), crps_by_quadrature(y, loc, scale), rtol=1e-10
    )


def test_crps_tends_to_the_absolute_error_for_a_point_mass():
    metric = metrics.NormalCRPS(dtype="float64")
    metric.update_state(np.array([[3.0], [-2.0]]), np.array([[1.0, 1e-9], [0.5, 1e-9]]))
    np.testing.assert_allclose(float(metric.result()), (2.0 + 2.5) / 2, rtol=1e-8)


def test_crps_averages_over_units_and_samples_with_weights():
    y, y_pred = sample(2, batch=4)
    loc, scale = split(y_pred)
    per_element = np.array(
        [
            [crps_by_quadrature(y[i, j], loc[i, j], scale[i, j]) for j in range(2)]
            for i in range(4)
        ]
    )
    weights = np.array([1.0, 0.0, 3.0, 0.5])
    metric = metrics.NormalCRPS()
    metric.update_state(y, y_pred, sample_weight=weights)
    expected = np.sum(per_element.mean(axis=1) * weights) / weights.sum()
    np.testing.assert_allclose(float(metric.result()), expected, rtol=2e-6)


@pytest.mark.parametrize("units", [1, 3])
def test_nll_metric_is_the_plain_nll_averaged_over_batches(units):
    y, y_pred = sample(units, batch=10)
    metric = metrics.NormalNLLMetric()
    metric.update_state(y[:4], y_pred[:4])
    metric.update_state(y[4:], y_pred[4:])
    loc, scale = split(y_pred)
    nll = 0.5 * np.log(2 * np.pi) + np.log(scale) + 0.5 * ((y - loc) / scale) ** 2
    np.testing.assert_allclose(float(metric.result()), nll.sum(-1).mean(), rtol=2e-6)
    np.testing.assert_allclose(
        float(metric.result()), float(NormalNLL()(y, y_pred)), rtol=2e-6
    )
    metric.reset_state()
    assert float(metric.count) == 0.0


@pytest.mark.parametrize("units", [1, 3])
def test_rmse_of_the_mean(units):
    y, y_pred = sample(units, batch=9)
    loc, _ = split(y_pred)
    metric = metrics.NormalMeanRMSE()
    metric.update_state(y[:5], y_pred[:5])
    metric.update_state(y[5:], y_pred[5:])
    np.testing.assert_allclose(
        float(metric.result()), np.sqrt(np.mean((y - loc) ** 2)), rtol=2e-6
    )
    # The scale plays no part.
    other = y_pred.copy()
    other[:, units:] *= 10
    metric.reset_state()
    metric.update_state(y, other)
    np.testing.assert_allclose(
        float(metric.result()), np.sqrt(np.mean((y - loc) ** 2)), rtol=2e-6
    )


def test_targets_without_the_unit_axis():
    y, y_pred = sample(1)
    for cls in METRIC_CLASSES.values():
        with_axis, without = cls(), cls()
        with_axis.update_state(y, y_pred)
        without.update_state(y[:, 0], y_pred)
        assert float(with_axis.result()) == float(without.result())


@pytest.mark.parametrize("name", list(METRIC_CLASSES))
def test_finite_at_min_scale_and_for_outliers(name):
    y = np.array([[1.0], [1e6]], "float32")
    y_pred = np.array([[0.0, 1e-6], [0.0, 1.0]], "float32")  # 1e6 sd away
    metric = METRIC_CLASSES[name]()
    metric.update_state(y, y_pred)
    assert np.isfinite(float(metric.result()))


@pytest.mark.parametrize("name", list(METRIC_CLASSES))
def test_registered_with_a_config(name):
    cls = METRIC_CLASSES[name]
    assert keras.saving.get_registered_name(cls) == f"keras_softplus>{name}"
    metric = cls(name="custom", dtype="float64")
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is cls
    assert restored.get_config() == {"name": "custom", "dtype": "float64"}
    assert isinstance(metric, keras.metrics.Metric)


def test_metrics_in_fit_logs():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), NormalHead(1)])
    model.compile(
        optimizer="adam",
        loss=NormalNLL(),
        metrics=[
            metrics.NormalNLLMetric(),
            metrics.NormalMeanRMSE(),
            metrics.NormalCRPS(),
        ],
    )
    x = seeded_normal((32, 2))
    y = x[:, :1] * 2
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "normal_nll", "normal_mean_rmse", "normal_crps"}
    np.testing.assert_allclose(logs["normal_nll"], logs["loss"], rtol=1e-5)
    y_pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["normal_mean_rmse"], np.sqrt(np.mean((y - y_pred[:, :1]) ** 2)), rtol=1e-5
    )


# The metrics of the other heads: their NLL, and the count CRPS by series.
HEAD_NLL_METRICS = {
    "StudentTNLLMetric": (
        metrics.StudentTNLLMetric,
        keras_softplus.losses.StudentTNLL,
        np.array([[0.5], [10.0]]),
        np.array([[0.0, 1.0, 3.0], [1.0, 2.0, 5.0]]),
    ),
    "PoissonNLLMetric": (
        metrics.PoissonNLLMetric,
        keras_softplus.losses.PoissonNLL,
        np.array([[0.0], [7.0]]),
        np.array([[2.0], [3.5]]),
    ),
    "NegativeBinomialNLLMetric": (
        metrics.NegativeBinomialNLLMetric,
        keras_softplus.losses.NegativeBinomialNLL,
        np.array([[0.0], [7.0]]),
        np.array([[2.0, 1.0], [3.5, 0.5]]),
    ),
    "GammaNLLMetric": (
        metrics.GammaNLLMetric,
        keras_softplus.losses.GammaNLL,
        np.array([[0.5], [7.0]]),
        np.array([[2.0, 1.0], [3.5, 0.5]]),
    ),
}


@pytest.mark.parametrize("name", list(HEAD_NLL_METRICS))
def test_head_nll_metrics_are_the_weighted_mean_of_their_loss(name):
    metric_class, loss_class, y, y_pred = HEAD_NLL_METRICS[name]
    per_sample = loss_class(reduction=None, dtype="float64")(y, y_pred).numpy()
    metric = metric_class(dtype="float64")
    metric.update_state(y[:1], y_pred[:1], sample_weight=np.array([3.0]))
    metric.update_state(y[1:], y_pred[1:])
    expected = (3 * per_sample[0] + per_sample[1]) / 4
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-12)
    assert keras.saving.get_registered_name(metric_class) == f"keras_softplus>{name}"
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is metric_class


def test_count_crps_metrics_match_scoringrules_averaged_over_units():
    counts = np.array([[0.0, 3.0], [12.0, 40.0]])
    rate = np.array([[0.7, 2.0], [10.0, 30.0]])
    total_count = np.array([[1.0, 4.0], [0.5, 20.0]])
    poisson = metrics.PoissonCRPS(support_size=300, dtype="float64")
    poisson.update_state(counts, rate)
    expected = scoringrules.crps_poisson(counts, rate).mean()
    np.testing.assert_allclose(float(poisson.result()), expected, rtol=1e-9)
    negative_binomial = metrics.NegativeBinomialCRPS(support_size=1000, dtype="float64")
    negative_binomial.update_state(counts, np.concatenate([rate, total_count], -1))
    expected = scoringrules.crps_negbinom(counts, total_count, mu=rate).mean()
    np.testing.assert_allclose(float(negative_binomial.result()), expected, rtol=1e-9)
    restored = keras.metrics.deserialize(keras.metrics.serialize(negative_binomial))
    assert restored.support_size == 1000
    with pytest.raises(ValueError, match="`support_size` must be a positive integer"):
        metrics.PoissonCRPS(support_size=0)


def test_student_t_crps_metric_matches_scoringrules_with_weights():
    y = np.array([[0.5, -1.0], [4.0, 0.0]])
    loc = np.array([[0.0, 0.5], [1.0, 0.0]])
    scale = np.array([[1.0, 2.0], [0.5, 1.0]])
    df = np.array([[3.0, 2.5], [10.0, 50.0]])
    metric = metrics.StudentTCRPS(dtype="float64")
    metric.update_state(
        y, np.concatenate([loc, scale, df], -1), sample_weight=np.array([1.0, 3.0])
    )
    per_sample = scoringrules.crps_t(y, df, loc, scale).mean(axis=-1)
    expected = (per_sample[0] + 3 * per_sample[1]) / 4
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-9)
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is metrics.StudentTCRPS


@pytest.fixture
def mixed_bfloat16():
    """The global policy `mixed_bfloat16` for one test, restored after it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def poisson_crps_reference(y, y_pred):
    return scoringrules.crps_poisson(y, y_pred).mean(-1)


def negative_binomial_crps_reference(y, y_pred):
    mean, total_count = np.split(y_pred, 2, axis=-1)
    return scoringrules.crps_negbinom(y, total_count, mu=mean).mean(-1)


def normal_crps_reference(y, y_pred):
    loc, scale = np.split(y_pred, 2, axis=-1)
    return scoringrules.crps_normal(y, loc, scale).mean(-1)


def nll_reference(distribution):
    """The NLL summed over units, by TFP in float64 (`as_*` of a float64 output)."""

    def reference(y, y_pred):
        return -distribution(y_pred).log_prob(y).numpy().reshape(len(y))

    return reference


@pytest.mark.parametrize(
    "metric_class, head, targets, reference",
    [
        pytest.param(
            metrics.PoissonCRPS,
            lambda: keras_softplus.layers.PoissonHead(initial_rate=40.0),
            lambda rng: rng.poisson(40.0, size=(64, 1)),
            poisson_crps_reference,
            id="poisson_crps",
        ),
        pytest.param(
            metrics.NegativeBinomialCRPS,
            lambda: keras_softplus.layers.NegativeBinomialHead(
                initial_mean=30.0, initial_total_count=5.0
            ),
            lambda rng: rng.negative_binomial(5.0, 5.0 / 35.0, size=(64, 1)),
            negative_binomial_crps_reference,
            id="negative_binomial_crps",
        ),
        pytest.param(
            metrics.NormalCRPS,
            lambda: keras_softplus.layers.NormalHead(initial_scale=3.0),
            lambda rng: rng.normal(50.0, 3.0, size=(64, 1)),
            normal_crps_reference,
            id="normal_crps",
        ),
        pytest.param(
            metrics.PoissonNLLMetric,
            lambda: keras_softplus.layers.PoissonHead(initial_rate=40.0),
            lambda rng: rng.poisson(40.0, size=(64, 1)),
            nll_reference(keras_softplus.distributions.as_poisson),
            id="poisson_nll",
        ),
    ],
)
def test_metrics_compute_in_their_own_dtype_under_mixed_bfloat16(
    mixed_bfloat16, metric_class, head, targets, reference
):
    """A bfloat16 head output is read in the metric's float32, not summed
    in bfloat16 (PoissonCRPS was 1% off)."""
    keras.utils.set_random_seed(0)
    y_pred = head()(seeded_normal((64, 3)))
    assert y_pred.dtype == "bfloat16"
    y = targets(np.random.default_rng(1)).astype("float32")
    metric = metric_class()
    assert metric.dtype == "float32"
    metric.update_state(y, y_pred)
    y_pred64 = keras.ops.convert_to_numpy(keras.ops.cast(y_pred, "float64"))
    expected = reference(y.astype("float64"), y_pred64).mean()
    np.testing.assert_allclose(float(metric.result()), expected, rtol=2e-5)


@pytest.mark.parametrize(
    "support_size, message",
    [
        pytest.param(0, "a positive integer", id="zero"),
        pytest.param(10**12, r"an integer in \[1, 16777216\]", id="beyond_2_24"),
        pytest.param(float("inf"), "a positive integer", id="infinite"),
        pytest.param(2.5, "a positive integer", id="fraction"),
    ],
)
@pytest.mark.parametrize(
    "metric_class",
    [
        pytest.param(metrics.PoissonCRPS, id="poisson"),
        pytest.param(metrics.NegativeBinomialCRPS, id="negative_binomial"),
    ],
)
def test_count_crps_metrics_check_the_support_size(metric_class, support_size, message):
    with pytest.raises(ValueError, match=f"`support_size` must be {message}"):
        metric_class(support_size=support_size)


def test_count_crps_metrics_in_fit_under_mixed_float16():
    """float16 rates reach the count CRPS in float32 (they crashed building
    the support in float16), and the logged value is the float32 one."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    outputs = [
        keras_softplus.layers.PoissonHead(initial_rate=4.0, dtype="mixed_float16"),
        keras_softplus.layers.NegativeBinomialHead(
            initial_mean=4.0, dtype="mixed_float16"
        ),
    ]
    model = keras.Model(inputs, [head(inputs) for head in outputs])
    model.compile(
        optimizer="adam",
        loss=[
            keras_softplus.losses.PoissonNLL(),
            keras_softplus.losses.NegativeBinomialNLL(),
        ],
        metrics=[[metrics.PoissonCRPS(100)], [metrics.NegativeBinomialCRPS(1000)]],
    )
    x = seeded_normal((32, 3))
    y = np.random.default_rng(2).poisson(4.0, size=(32, 1)).astype("float32")
    history = model.fit(x, [y, y], batch_size=32, epochs=1, verbose=0)
    assert all(np.isfinite(values[0]) for values in history.history.values())
    # From `predict`, a compiled graph as `evaluate` is: an eager call may
    # round a float16 matmul differently (oneDNN with AVX512-FP16: one
    # element 1 ulp apart, 1e-4 of the CRPS).
    rate, nb = (p.astype("float64") for p in model.predict(x, verbose=0))
    logs = model.evaluate(x, [y, y], verbose=0, return_dict=True)
    crps = {name: value for name, value in logs.items() if "crps" in name}
    expected = sorted(
        [
            poisson_crps_reference(y, rate).mean(),
            negative_binomial_crps_reference(y, nb).mean(),
        ]
    )
    np.testing.assert_allclose(sorted(crps.values()), expected, rtol=2e-5)
