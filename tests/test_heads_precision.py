"""The heads under mixed precision: each head's half-precision output, then
each loss, metric and `as_*` log-probability, against the exact value at
those outputs (tests/heads_harness.py), held to float32's tolerance, as the
losses, metrics and distributions compute in float32."""

import heads_harness
import keras
import numpy as np
import pytest
from heads_harness import HALF_PRECISION_POLICIES

import keras_softplus


@pytest.fixture
def policy(request):
    """Sets the global dtype policy for the test, then restores it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy(previous)


# Per head: constructor arguments, targets, its NLL and CRPS functions, loss,
# metrics (with the per-sample function each averages) and as_* function.
HEADS = {
    "NormalHead": {
        "kwargs": {"initial_scale": 0.7},
        "targets": [0.3, -1.2, 0.05, 2.5],
        "loss": ("NormalNLL", "normal_nll"),
        "metrics": {"NormalNLLMetric": "normal_nll", "NormalCRPS": "normal_crps"},
        "distribution": "as_normal",
    },
    "StudentTHead": {
        "kwargs": {"initial_scale": 1.5},
        "targets": [0.3, -12.0, 0.05, 40.0],
        "loss": ("StudentTNLL", "student_t_nll"),
        "metrics": {
            "StudentTNLLMetric": "student_t_nll",
            "StudentTCRPS": "student_t_crps",
        },
        "distribution": "as_student_t",
    },
    "PoissonHead": {
        "kwargs": {"initial_rate": 1000.0},
        "targets": [1003.0, 950.0, 1000.0, 1071.0],
        "loss": ("PoissonNLL", "poisson_nll"),
        "metrics": {"PoissonNLLMetric": "poisson_nll", "PoissonCRPS": "poisson_crps"},
        "distribution": "as_poisson",
    },
    "NegativeBinomialHead": {
        "kwargs": {"initial_mean": 40.0, "initial_total_count": 3.0},
        "targets": [41.0, 0.0, 7.0, 130.0],
        "loss": ("NegativeBinomialNLL", "negative_binomial_nll"),
        "metrics": {
            "NegativeBinomialNLLMetric": "negative_binomial_nll",
            "NegativeBinomialCRPS": "negative_binomial_crps",
        },
        "distribution": "as_negative_binomial",
    },
    "GammaHead": {
        "kwargs": {"initial_concentration": 2.0, "initial_rate": 0.5},
        "targets": [3.1, 0.02, 11.0, 4.0],
        "loss": ("GammaNLL", "gamma_nll"),
        "metrics": {"GammaNLLMetric": "gamma_nll"},
        "distribution": "as_gamma",
    },
}


def head_outputs(head_name):
    """The head's output on small seeded inputs, in the policy's dtype."""
    keras.utils.set_random_seed(0)
    head = getattr(keras_softplus.layers, head_name)(**HEADS[head_name]["kwargs"])
    inputs = np.random.default_rng(0).normal(scale=0.1, size=(4, 3))
    return head(inputs.astype("float32"))


def exact_values(function, targets, outputs):
    """The exact per-sample values at the (half-precision) outputs."""
    rows = keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float64"))
    return np.array(
        [
            heads_harness.reference(function, float(y), *map(float, row))[0]
            for y, row in zip(targets, rows, strict=True)
        ]
    )


def as_float64(tensor):
    return keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float64"))


@pytest.mark.parametrize("policy", HALF_PRECISION_POLICIES, indirect=True)
@pytest.mark.parametrize("head_name", list(HEADS))
def test_losses_metrics_and_distributions_match_the_exact_values(policy, head_name):
    case = HEADS[head_name]
    outputs = head_outputs(head_name)
    assert keras.backend.standardize_dtype(outputs.dtype) == policy.split("_")[1]
    targets = np.array(case["targets"], "float32")[:, None]
    loss_name, function = case["loss"]
    nll = exact_values(function, targets[:, 0], outputs)

    loss = getattr(keras_softplus.losses, loss_name)(reduction=None)
    heads_harness.assert_close(
        as_float64(loss(targets, outputs)), nll, "float32", "value"
    )
    for metric_name, metric_function in case["metrics"].items():
        metric = getattr(keras_softplus.metrics, metric_name)()
        metric.update_state(targets, outputs)
        exact = np.mean(exact_values(metric_function, targets[:, 0], outputs))
        heads_harness.assert_close(
            [as_float64(metric.result())], [exact], "float32", "value", [metric_name]
        )
    distribution = getattr(keras_softplus.distributions, case["distribution"])(outputs)
    log_prob = as_float64(distribution.log_prob(targets))
    heads_harness.assert_close(log_prob[:, 0], -nll, "float32", "tfp_value")


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
def test_as_poisson_of_a_float16_rate_of_1000(policy):
    """Issue: -2.5 where the log-probability is -4.379."""
    rate = keras.ops.convert_to_tensor([[1000.0]], "float16")
    got = as_float64(keras_softplus.distributions.as_poisson(rate).log_prob([[1003.0]]))
    exact = -heads_harness.reference("poisson_nll", 1003.0, 1000.0)[0]
    assert round(exact, 3) == -4.379
    heads_harness.assert_close(got.ravel(), [exact], "float32", "value")


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
@pytest.mark.parametrize(
    ("head_name", "metric_name"),
    [
        pytest.param("PoissonHead", "PoissonCRPS", id="poisson_crps"),
        pytest.param(
            "NegativeBinomialHead", "NegativeBinomialCRPS", id="negative_binomial_crps"
        ),
    ],
)
def test_count_crps_metrics_inside_fit(policy, head_name, metric_name):
    """Issue: "Unsupported dtype for Range" under mixed_float16."""
    keras.utils.set_random_seed(0)
    head_class = getattr(keras_softplus.layers, head_name)
    model = keras.Sequential(
        [keras.Input((3,)), head_class(**HEADS[head_name]["kwargs"])]
    )
    loss_name = HEADS[head_name]["loss"][0]
    model.compile(
        optimizer="sgd",
        loss=getattr(keras_softplus.losses, loss_name)(),
        metrics=[getattr(keras_softplus.metrics, metric_name)(support_size=300)],
    )
    x = np.random.default_rng(0).normal(scale=0.1, size=(8, 3)).astype("float32")
    y = np.full((8, 1), 41.0, "float32")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    values = [value for values in history.history.values() for value in values]
    assert np.all(np.isfinite(values)), history.history


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
@pytest.mark.parametrize(
    ("head_name", "kwargs"),
    [
        pytest.param("StudentTHead", {"df": 7e4}, id="student_t_df_7e4"),
        pytest.param("PoissonHead", {"initial_rate": 1e5}, id="poisson_initial_1e5"),
        pytest.param(
            "NegativeBinomialHead",
            {"initial_total_count": 1e6},
            id="negative_binomial_initial_total_count_1e6",
        ),
        pytest.param("GammaHead", {"initial_rate": 1e5}, id="gamma_initial_rate_1e5"),
        pytest.param("NormalHead", {"initial_scale": 1e5}, id="normal_initial_1e5"),
    ],
)
def test_values_that_overflow_float16_raise_at_construction(policy, head_name, kwargs):
    """Issue: inf outputs at initialisation instead of an argument error."""
    with pytest.raises(ValueError, match=f"`{next(iter(kwargs))}`"):
        getattr(keras_softplus.layers, head_name)(**kwargs)


@pytest.mark.parametrize(
    ("head_name", "kwargs"),
    [
        pytest.param("StudentTHead", {"df": 1e39}, id="student_t_df_1e39"),
        pytest.param("PoissonHead", {"initial_rate": 1e39}, id="poisson_initial_1e39"),
    ],
)
def test_values_that_overflow_float32_raise_at_construction(head_name, kwargs):
    with pytest.raises(ValueError, match=f"`{next(iter(kwargs))}`"):
        getattr(keras_softplus.layers, head_name)(**kwargs)
