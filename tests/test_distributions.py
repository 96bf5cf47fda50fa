"""Tests of `keras_softplus.distributions`."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.distributions import as_normal
from keras_softplus.distributions import split_normal_params
from keras_softplus.losses import NormalNLL

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
    with pytest.raises(ValueError, match="statically known last axis that is a non-zero multiple of 2"):
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
    y = np.random.default_rng(1).normal(size=(5, 1)).astype("float32")
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
    y = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(
        -normal.log_prob(y).numpy(), NormalNLL(reduction=None)(y, y_pred).numpy(), rtol=1e-6
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
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env,
        timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "IMPORT_ERROR:" in result.stdout
    assert "needs TensorFlow Probability" in result.stdout
