"""Tests of `keras_softplus.distributions`."""

import json
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from fresh_process import run_python
from input_grids import seeded_normal

import keras_softplus
from keras_softplus import distributions
from keras_softplus.distributions import as_normal
from keras_softplus.distributions import split_normal_params
from keras_softplus.losses import GammaNLL
from keras_softplus.losses import NegativeBinomialNLL
from keras_softplus.losses import NormalNLL
from keras_softplus.losses import PoissonNLL
from keras_softplus.losses import StudentTNLL

tfd = tfp.distributions


def y_pred_of(units, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(batch, units))
    scale = rng.uniform(0.1, 2.0, size=(batch, units))
    return np.concatenate([loc, scale], axis=-1).astype("float32"), loc, scale


@pytest.mark.parametrize("units", [1, 4])
def test_split_returns_loc_then_scale(units):
    y_pred, loc, scale = y_pred_of(units)
    got_loc, got_scale = split_normal_params(y_pred)
    assert got_loc.shape == got_scale.shape == (5, units)
    np.testing.assert_array_equal(got_loc.numpy(), loc.astype("float32"))
    np.testing.assert_array_equal(got_scale.numpy(), scale.astype("float32"))


def test_split_keeps_leading_axes():
    loc, scale = split_normal_params(np.zeros((2, 3, 6), "float64"))
    assert loc.shape == scale.shape == (2, 3, 3)
    assert loc.dtype == "float64"


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 5)), np.float32(1.0)], ids=["odd_width", "scalar"]
)
def test_split_rejects_odd_or_missing_last_axis(bad):
    with pytest.raises(
        ValueError, match="statically known last axis that is a non-zero multiple of 2"
    ):
        split_normal_params(bad)


def test_split_rejects_an_unknown_last_axis_in_a_graph():
    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32)])
    def split(y_pred):
        return split_normal_params(y_pred)

    with pytest.raises(ValueError, match="statically known"):
        split.get_concrete_function()


def test_single_unit_gives_a_normal_with_the_unit_axis_in_the_batch_shape():
    y_pred, loc, scale = y_pred_of(1)
    normal = as_normal(y_pred)
    assert type(normal) is tfd.Normal
    assert normal.batch_shape == (5, 1) and normal.event_shape == ()
    np.testing.assert_allclose(normal.mean().numpy(), loc, rtol=1e-6)
    np.testing.assert_allclose(normal.stddev().numpy(), scale, rtol=1e-6)
    y = seeded_normal((5, 1), seed=1)
    log_prob = normal.log_prob(y)
    assert log_prob.shape == (5, 1)
    np.testing.assert_allclose(
        -log_prob.numpy()[:, 0], NormalNLL(reduction=None)(y, y_pred).numpy(), rtol=1e-6
    )


def test_several_units_give_an_independent_normal_with_a_vector_event():
    y_pred, loc, scale = y_pred_of(3)
    normal = as_normal(y_pred)
    assert isinstance(normal, tfd.Independent)
    assert isinstance(normal.distribution, tfd.Normal)
    assert normal.batch_shape == (5,) and normal.event_shape == (3,)
    np.testing.assert_allclose(normal.mean().numpy(), loc, rtol=1e-6)
    np.testing.assert_allclose(normal.stddev().numpy(), scale, rtol=1e-6)
    y = seeded_normal((5, 3), seed=2)
    np.testing.assert_allclose(
        -normal.log_prob(y).numpy(),
        NormalNLL(reduction=None)(y, y_pred).numpy(),
        rtol=1e-6,
    )


def test_without_tensorflow_probability_everything_but_as_normal_works(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["tensorflow_probability"] = None  # import fails
        import numpy as np
        import keras
        import keras_softplus as ks

        model = keras.Sequential(
            [keras.Input((3,)), ks.PositiveDense(4, activation=ks.SoftplusPositive()),
             ks.PositiveHead(4, learn_beta=True), ks.NormalHead(2)]
        )
        model.compile(
            optimizer="adam",
            loss=ks.NormalNLL(beta_nll=0.5),
            metrics=[ks.metrics.NormalNLLMetric(), ks.metrics.NormalMeanRMSE(),
                     ks.metrics.NormalCRPS()],
        )
        x = np.ones((8, 3), "float32")
        model.fit(x, np.zeros((8, 2), "float32"), verbose=0)
        loc, scale = ks.distributions.split_normal_params(model.predict(x, verbose=0))
        assert loc.shape == (8, 2) and bool(np.all(scale.numpy() > 0))
        try:
            ks.distributions.as_normal(model.predict(x, verbose=0))
        except ImportError as error:
            print("IMPORT_ERROR:", error)
        """
    )
    output = run_python(script, cwd=tmp_path)
    assert "IMPORT_ERROR:" in output
    assert "needs TensorFlow Probability" in output


# The other heads' distributions: shaped as `as_normal`, equal to the losses.
def head_outputs(units, batch=4, seed=1):
    rng = np.random.default_rng(seed)
    positive = rng.uniform(0.5, 4.0, size=(batch, 2 * units))
    loc = rng.normal(size=(batch, units))
    df = rng.uniform(2.5, 9.0, size=(batch, units))
    return {
        "as_student_t": (
            np.concatenate([loc, positive[:, :units], df], -1),
            StudentTNLL,
        ),
        "as_poisson": (positive[:, :units], PoissonNLL),
        "as_negative_binomial": (positive, NegativeBinomialNLL),
        "as_gamma": (positive, GammaNLL),
    }


@pytest.mark.parametrize(
    "name", ["as_student_t", "as_poisson", "as_negative_binomial", "as_gamma"]
)
@pytest.mark.parametrize("units", [1, 3])
def test_head_distributions_are_shaped_as_as_normal_and_equal_the_losses(name, units):
    y_pred, loss_class = head_outputs(units)[name]
    y_pred = y_pred.astype("float32")
    distribution = getattr(distributions, name)(y_pred)
    shapes = (tuple(distribution.batch_shape), tuple(distribution.event_shape))
    if units == 1:
        assert shapes == ((4, 1), ())
    else:
        assert isinstance(distribution, tfd.Independent)
        assert shapes == ((4,), (units,))
    y = np.ceil(distribution.sample(seed=3).numpy())  # integer and > 0 for all
    log_prob = distribution.log_prob(y).numpy().reshape(4)
    np.testing.assert_allclose(
        loss_class(reduction=None)(y, y_pred).numpy(), -log_prob, rtol=2e-5
    )


def test_negative_binomial_conversion_is_exact_and_stable_at_the_extremes():
    y_pred = np.array([[4.0, 2.0], [1e4, 1e8], [1e-6, 1e-6], [3.0, 1e12]])
    nb = distributions.as_negative_binomial(y_pred)
    np.testing.assert_allclose(nb.mean().numpy()[:, 0], y_pred[:, 0], rtol=1e-12)
    np.testing.assert_allclose(
        nb.variance().numpy()[:, 0],
        y_pred[:, 0] + y_pred[:, 0] ** 2 / y_pred[:, 1],
        rtol=1e-9,
    )
    nb32 = distributions.as_negative_binomial(y_pred.astype("float32"))
    assert np.all(np.isfinite(nb32.log_prob(np.array([[3.0], [1e4], [0.0], [3.0]]))))


# Every `as_*` of one example output per head: (function, y_pred, targets).
AS_FUNCTIONS = {
    "as_normal": ([[1.0, 2.0], [-0.5, 0.3]], [[0.5], [0.0]]),
    "as_student_t": ([[1.0, 2.0, 3.5], [-0.5, 0.3, 40.0]], [[0.5], [0.0]]),
    "as_poisson": ([[2.0], [1000.0]], [[3.0], [1003.0]]),
    "as_negative_binomial": ([[2.0, 1.5], [1000.0, 20.0]], [[3.0], [1003.0]]),
    "as_gamma": ([[2.0, 1.5], [30.0, 0.5]], [[3.0], [58.0]]),
}


def reference_log_prob(name, y_pred, y):
    """TFP's log_prob in float64 of the float64 output."""
    distribution = getattr(distributions, name)(np.asarray(y_pred, "float64"))
    return distribution.log_prob(np.asarray(y, "float64")).numpy()


# Tolerance of a float32 log_prob: TFP sums terms of up to about 7e3 (a
# count near 1000 times its log), each rounded at float32 eps, 6e-8.
FLOAT32_LOG_PROB = {"rtol": 1e-5, "atol": 5e-4}


@pytest.mark.parametrize(
    "half_dtype",
    [pytest.param("float16", id="float16"), pytest.param("bfloat16", id="bfloat16")],
)
@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in AS_FUNCTIONS])
def test_as_functions_upcast_half_precision_outputs_to_float32(name, half_dtype):
    """A half-precision output gives a float32 distribution: as_poisson of
    rate 1000 in float16 gave log_prob(1003) = -2.5 against -4.379, and
    bfloat16 log_prob crashed on CPU (no bfloat16 lgamma)."""
    y_pred, y = AS_FUNCTIONS[name]
    half = tf.cast(tf.constant(y_pred, tf.float32), half_dtype)
    distribution = getattr(distributions, name)(half)
    assert distribution.dtype == tf.float32
    # The reference reads the same rounded values, in float64.
    rounded = tf.cast(half, tf.float64).numpy()
    np.testing.assert_allclose(
        distribution.log_prob(np.asarray(y, "float32")).numpy(),
        reference_log_prob(name, rounded, y),
        **FLOAT32_LOG_PROB,
    )


def test_as_poisson_of_a_float16_rate_of_1000_is_computed_in_float32():
    poisson = distributions.as_poisson(np.array([[1000.0]], "float16"))
    np.testing.assert_allclose(
        float(poisson.log_prob([[1003.0]])[0, 0]), -4.379, atol=1e-3
    )


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in AS_FUNCTIONS])
def test_as_functions_of_integer_outputs_are_floatx(name):
    y_pred, y = AS_FUNCTIONS[name]
    integers = np.rint(np.asarray(y_pred)).astype("int64")
    distribution = getattr(distributions, name)(integers)
    assert distribution.dtype == tf.float32
    np.testing.assert_allclose(
        distribution.log_prob(np.asarray(y, "float32")).numpy(),
        reference_log_prob(name, integers, y),
        **FLOAT32_LOG_PROB,
    )


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in AS_FUNCTIONS])
def test_as_functions_of_mixed_bfloat16_heads_give_float32_log_probs(name):
    head_class = {
        "as_normal": "NormalHead",
        "as_student_t": "StudentTHead",
        "as_poisson": "PoissonHead",
        "as_negative_binomial": "NegativeBinomialHead",
        "as_gamma": "GammaHead",
    }[name]
    head = getattr(keras_softplus.layers, head_class)(dtype="mixed_bfloat16")
    y_pred = head(seeded_normal((4, 3)))
    assert y_pred.dtype == tf.bfloat16
    distribution = getattr(distributions, name)(y_pred)
    y = np.full((4, 1), 2.0, "float32")
    log_prob = distribution.log_prob(y).numpy()
    np.testing.assert_allclose(
        log_prob,
        reference_log_prob(name, tf.cast(y_pred, tf.float64).numpy(), y),
        **FLOAT32_LOG_PROB,
    )


def test_as_mixture_of_members_of_different_dtypes_is_an_error():
    members = [np.zeros((2, 2), "float32"), np.ones((2, 2), "float64")]
    with pytest.raises(
        ValueError, match=r"same dtype.*Received: dtypes \['float32', 'float64'\]"
    ):
        distributions.as_mixture(members)


ON_OTHER_BACKENDS = """
import json
import sys

import keras
import numpy as np

from keras_softplus import distributions

results = {}
for name, (y_pred, y) in json.loads(sys.argv[1]).items():
    y_pred, y = np.asarray(y_pred, "float32"), np.asarray(y, "float32")
    tensor = keras.ops.convert_to_tensor(y_pred)
    as_function = getattr(distributions, name)
    results[name + " numpy"] = as_function(y_pred).log_prob(y)
    results[name + " tensor"] = as_function(tensor).log_prob(y)
    if name == "as_normal":
        mixture = distributions.as_mixture([tensor, tensor])
        results["as_mixture tensor"] = mixture.log_prob(y)
print(json.dumps({key: np.asarray(value).tolist() for key, value in results.items()}))
"""


@pytest.mark.parametrize(
    "backend", [pytest.param("torch", id="torch"), pytest.param("jax", id="jax")]
)
def test_as_functions_on_other_backends(backend):
    """Every `as_*` of NumPy arrays and of backend tensors, in one fresh
    process per backend (PyTorch failed: "Cannot convert ... torch.float32
    to a TensorFlow DType")."""
    output = run_python(
        ON_OTHER_BACKENDS, json.dumps(AS_FUNCTIONS), KERAS_BACKEND=backend
    )
    results = json.loads(output.strip().splitlines()[-1])
    expected = {
        name: reference_log_prob(name, y_pred, y)
        for name, (y_pred, y) in AS_FUNCTIONS.items()
    }
    # An equal-weight mixture of two equal members is that member.
    expected["as_mixture"] = expected["as_normal"]
    assert len(results) == 2 * len(AS_FUNCTIONS) + 1
    for key, log_prob in results.items():
        np.testing.assert_allclose(
            log_prob, expected[key.split()[0]], **FLOAT32_LOG_PROB, err_msg=key
        )
