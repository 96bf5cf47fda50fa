"""Every layer, loss and metric of the package in `fit` with XLA.

Each model is compiled with `jit_compile=True`, so Keras runs the whole
train, test and predict steps as one XLA computation (an op XLA cannot
compile fails the step), and is trained from the same initial weights as
without XLA: both must give the same weights within float32 rounding.
"""

import keras
import numpy as np
import pytest

from keras_softplus import constraints
from keras_softplus import layers
from keras_softplus import losses
from keras_softplus import metrics


def regression_data(features=4, outputs=1):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, features)).astype("float32")
    mean = np.abs(x[:, :outputs]) + 0.5 * x[:, 1 : outputs + 1]
    noise = rng.normal(size=mean.shape) * (0.2 + 0.3 * np.abs(x[:, -1:]))
    return x, (mean + noise).astype("float32")


def beta_softplus_model():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            layers.BetaSoftplus(beta=2.0, shared_axes=[], beta_regularizer="l2"),
            keras.layers.Dense(1),
        ]
    )
    return model, "mse", None


def beta_softplus_shared_axes_model():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Reshape((4, 1)),
            keras.layers.Conv1D(3, 2),
            layers.BetaSoftplus(shared_axes=[1]),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    return model, "mse", None


def positive_dense_model():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.PositiveDense(
                8, positive=constraints.SoftplusPositive(0.01, beta=2.0)
            ),
            layers.BetaSoftplus(),
            layers.PositiveDense(1),
        ]
    )
    return model, "mse", None


def softplus_positive_activation_model():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation=constraints.SoftplusPositive(0.1)),
            keras.layers.Dense(1),
        ]
    )
    return model, "mse", None


def positive_head_model():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh"),
            layers.PositiveHead(1, min_value=0.01, learn_beta=True),
        ]
    )
    return model, "mse", None


def normal_head_model(beta_nll=0.0, units=1):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh"),
            layers.NormalHead(units, min_scale=1e-3),
        ]
    )
    normal_metrics = [
        metrics.NormalNLLMetric(),
        metrics.NormalMeanRMSE(),
        metrics.NormalCRPS(),
    ]
    return model, losses.NormalNLL(beta_nll=beta_nll), normal_metrics


MODELS = {
    "beta_softplus": (beta_softplus_model, 1),
    "beta_softplus_shared_axes": (beta_softplus_shared_axes_model, 1),
    "positive_dense": (positive_dense_model, 1),
    "softplus_positive_activation": (softplus_positive_activation_model, 1),
    "positive_head": (positive_head_model, 1),
    "normal_head_nll": (normal_head_model, 1),
    "normal_head_beta_nll_two_units": (lambda: normal_head_model(0.5, 2), 2),
}


def fit(name, jit_compile):
    builder, outputs = MODELS[name]
    keras.utils.set_random_seed(0)
    model, loss, model_metrics = builder()
    model.compile(
        keras.optimizers.SGD(0.02), loss, metrics=model_metrics, jit_compile=jit_compile
    )
    # Keras turns XLA off, with only a warning, for models it deems
    # incompatible; the comparison below would then be vacuous.
    assert model.jit_compile is jit_compile
    x, y = regression_data(outputs=outputs)
    history = model.fit(x, y, epochs=4, batch_size=32, shuffle=False, verbose=0)
    evaluation = model.evaluate(x, y, verbose=0, return_dict=True)
    return model, history.history, evaluation, model.predict(x, verbose=0)


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_with_xla_matches_fit_without(name):
    xla_model, xla_history, xla_evaluation, xla_predictions = fit(name, True)
    model, history, evaluation, predictions = fit(name, False)
    losses_ = xla_history["loss"]
    assert np.all(np.isfinite(losses_)) and losses_[-1] < losses_[0], losses_
    for key, values in history.items():
        np.testing.assert_allclose(xla_history[key], values, rtol=1e-4, err_msg=key)
    for key, value in evaluation.items():
        np.testing.assert_allclose(xla_evaluation[key], value, rtol=1e-4, err_msg=key)
    for xla_weight, weight in zip(xla_model.weights, model.weights, strict=False):
        np.testing.assert_allclose(
            xla_weight.numpy(),
            weight.numpy(),
            rtol=1e-4,
            atol=1e-6,
            err_msg=weight.path,
        )
    np.testing.assert_allclose(xla_predictions, predictions, rtol=1e-4, atol=1e-6)
