"""The distribution heads, their losses and metrics on JAX and PyTorch.

The suite runs under TensorFlow, and a process picks its Keras backend once,
at import; so `worker()` below runs in one fresh interpreter per backend,
with `KERAS_BACKEND` set. For every head it computes the loss and metric
values on fixed predictions, the head's initial output, a short training
(finite loss and gradients) and a `.keras` round trip on that backend, and
writes the numbers to a file that the tests compare with TensorFlow here.

This module imports no TensorFlow at import time, so that the workers, which
import it, do not either.
"""

import json
import os

import numpy as np
import pytest
from fresh_process import run_python

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("jax", "torch")


def cases():
    """Per head: its class name and kwargs, its loss, targets and predictions
    at extreme values (counts of 1e4, Gamma targets 1e-8 and 1e8, a scale at
    the float32 eps, an outlier 1e4 scales away)."""
    eps = float(np.finfo("float32").eps)
    return {
        "StudentTHead": (
            {"units": 1},
            "StudentTNLL",
            [[0.3], [1e4], [2.0]],
            [[0.0, 1.0, 3.0], [0.0, 1.0, 5.0], [2.0, eps, 2.5]],
        ),
        "PoissonHead": (
            {"units": 1, "initial_rate": 3.0},
            "PoissonNLL",
            [[0.0], [1e4], [7.0]],
            [[eps], [9e3], [2.5]],
        ),
        "NegativeBinomialHead": (
            {"units": 1, "initial_mean": 3.0},
            "NegativeBinomialNLL",
            [[0.0], [1e4], [7.0]],
            [[2.0, eps], [9e3, 1e8], [2.5, 0.5]],
        ),
        "GammaHead": (
            {"units": 1},
            "GammaNLL",
            [[1e-8], [1e8], [2.0]],
            [[0.5, 1.0], [3.0, 1e-8], [1e4, 5e3]],
        ),
    }


def worker(out_dir):
    """Runs on the backend of `KERAS_BACKEND`; writes `results.json`."""
    import keras

    import keras_softplus

    results = {"backend": keras.backend.backend()}
    for head_name, (kwargs, loss_name, y, y_pred) in cases().items():
        y, y_pred = np.array(y, "float32"), np.array(y_pred, "float32")
        loss_class = getattr(keras_softplus.losses, loss_name)
        loss = loss_class(reduction=None)
        head_class = getattr(keras_softplus.layers, head_name)
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(4), head_class(**kwargs)]
        )
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss_class())
        x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
        targets = np.ceil(keras.ops.convert_to_numpy(model(x))[:, :1]) + 1.0
        history = model.fit(x, targets, batch_size=16, epochs=1, verbose=0)
        path = os.path.join(out_dir, f"{head_name}.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        results[head_name] = {
            "loss": keras.ops.convert_to_numpy(loss(y, y_pred)).tolist(),
            "initial": keras.ops.convert_to_numpy(
                head_class(**kwargs)(np.zeros((1, 3), "float32"))
            ).tolist(),
            "training_losses": history.history["loss"],
            "reload_equal": bool(
                np.array_equal(
                    model.predict(x, verbose=0), reloaded.predict(x, verbose=0)
                )
            ),
        }
    crps = keras_softplus.metrics.NegativeBinomialCRPS(support_size=200)
    crps.update_state(np.array([[3.0], [12.0]]), np.array([[2.0, 1.0], [10.0, 4.0]]))
    results["negative_binomial_crps"] = float(crps.result())
    crps = keras_softplus.metrics.StudentTCRPS()
    crps.update_state(np.array([[0.5], [40.0]]), np.array([[0.0, 1.0, 3.0]] * 2))
    results["student_t_crps"] = float(crps.result())
    with open(os.path.join(out_dir, "results.json"), "w") as file:
        json.dump(results, file)


@pytest.fixture(scope="module", params=BACKENDS)
def backend_results(request, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp(request.param)
    run_python(
        f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import test_backends_heads; "
        f"test_backends_heads.worker({str(out_dir)!r})",
        timeout=600,
        KERAS_BACKEND=request.param,
    )
    with open(os.path.join(out_dir, "results.json")) as file:
        return json.load(file)


def test_worker_ran_on_its_backend(backend_results, request):
    assert backend_results["backend"] == request.node.callspec.params["backend_results"]


@pytest.mark.parametrize("head_name", list(cases()))
def test_losses_at_extreme_values_match_tensorflow(backend_results, head_name):
    import keras_softplus

    _, loss_name, y, y_pred = cases()[head_name]
    loss = getattr(keras_softplus.losses, loss_name)(reduction=None)
    expected = loss(np.array(y, "float32"), np.array(y_pred, "float32")).numpy()
    got = np.array(backend_results[head_name]["loss"])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("head_name", list(cases()))
def test_heads_start_train_and_reload_on_the_backend(backend_results, head_name):
    import keras_softplus

    kwargs = cases()[head_name][0]
    head = getattr(keras_softplus.layers, head_name)(**kwargs)
    expected = head(np.zeros((1, 3), "float32")).numpy()
    result = backend_results[head_name]
    np.testing.assert_allclose(result["initial"], expected, rtol=1e-6)
    assert np.all(np.isfinite(result["training_losses"]))
    assert result["reload_equal"]


def test_crps_metrics_match_tensorflow(backend_results):
    import keras_softplus

    crps = keras_softplus.metrics.NegativeBinomialCRPS(support_size=200)
    crps.update_state(np.array([[3.0], [12.0]]), np.array([[2.0, 1.0], [10.0, 4.0]]))
    np.testing.assert_allclose(
        backend_results["negative_binomial_crps"], float(crps.result()), rtol=1e-6
    )
    crps = keras_softplus.metrics.StudentTCRPS()
    crps.update_state(np.array([[0.5], [40.0]]), np.array([[0.0, 1.0, 3.0]] * 2))
    np.testing.assert_allclose(
        backend_results["student_t_crps"], float(crps.result()), rtol=1e-6
    )
