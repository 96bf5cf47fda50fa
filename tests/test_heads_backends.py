"""The harness of tests/heads_harness.py on JAX and PyTorch.

A process picks its Keras backend once, at import, so `worker()` below runs
in one fresh interpreter per backend (float64 enabled on JAX). It computes,
for a thinned copy of each function's grid (given by this process), the
values and gradients by the backend's own autodiff, the error of wrong
target shapes (eagerly, and under `jax.jit`), and the `as_*`
log-probabilities; the tests here compare them with the exact values.

This module imports no TensorFlow at import time, so that the workers, which
import it, do not either.
"""

import json
import os

import heads_harness
import numpy as np
import pytest
from fresh_process import run_python
from heads_harness import DTYPES
from heads_harness import FUNCTIONS

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
BACKENDS = {"jax": {"JAX_ENABLE_X64": "1"}, "torch": {}}
# Every THINNING-th point of each default grid.
THINNING = 8
SHAPE_MESSAGE = "`y_true` must have shape `(..., units)`"

# as_* inputs: (function, family's NLL, outputs (N, P), targets (N,)).
DISTRIBUTIONS = {
    "as_normal": ("normal_nll", [[0.5, 2.0], [-1.0, 0.3]], [1.0, -1.1]),
    "as_student_t": (
        "student_t_nll",
        [[0.5, 2.0, 3.0], [-1.0, 0.3, 30.0]],
        [9.0, -1.1],
    ),
    "as_poisson": ("poisson_nll", [[1000.0], [2.5]], [1003.0, 0.0]),
    "as_negative_binomial": (
        "negative_binomial_nll",
        [[40.0, 3.0], [2.5, 0.1]],
        [41.0, 7.0],
    ),
    "as_gamma": ("gamma_nll", [[2.0, 0.5], [1e3, 5.0]], [3.1, 200.0]),
}
# Wrong target shapes per loss: (units, loss, head width per unit, shape).
WRONG_SHAPES = {
    "NormalNLL": 2,
    "StudentTNLL": 3,
    "PoissonNLL": 1,
    "NegativeBinomialNLL": 2,
    "GammaNLL": 2,
}


# Every grid is cut or cycled to this many points: one shape for every
# function, so that JAX's eager mode compiles each primitive once.
POINTS = 8


def grids():
    """`{function: {dtype: (y, parameters)}}`, thinned, as lists."""
    return {
        function: {
            dtype: [
                np.resize(values[::THINNING], (POINTS, *values.shape[1:])).tolist()
                for values in heads_harness.grid(function, dtype)
            ]
            for dtype in DTYPES
        }
        for function in FUNCTIONS
    }


def _values_and_gradients(fn, y, parameters, dtype):
    import keras

    y_true = keras.ops.convert_to_tensor(np.asarray(y)[:, None], dtype)
    y_pred = keras.ops.convert_to_tensor(np.asarray(parameters), dtype)
    if keras.backend.backend() == "jax":
        import jax

        values, vjp = jax.vjp(lambda p: fn(y_true, p), y_pred)
        (gradients,) = vjp(jax.numpy.ones_like(values))
    else:
        import torch

        y_pred.requires_grad_(True)
        values = fn(y_true, y_pred)
        (gradients,) = torch.autograd.grad(values, y_pred, torch.ones_like(values))
        values = values.detach()
    return [
        np.asarray(keras.ops.convert_to_numpy(t), "float64").tolist()
        for t in (values, gradients)
    ]


def _error_of(call):
    try:
        call()
    except Exception as error:  # recorded for the test to judge
        return f"{type(error).__name__}: {error}"
    return None


def worker(grids_path, out_path):
    """Runs on the backend of `KERAS_BACKEND`; writes its results as JSON."""
    import keras

    import keras_softplus
    from keras_softplus import ops

    with open(grids_path) as file:
        function_grids = json.load(file)
    results = {"backend": keras.backend.backend(), "grids": {}, "shapes": {}}
    for function, by_dtype in function_grids.items():
        fn = getattr(getattr(ops, FUNCTIONS[function]), function)
        results["grids"][function] = {
            dtype: _values_and_gradients(fn, y, parameters, dtype)
            for dtype, (y, parameters) in by_dtype.items()
        }
    for loss_name, width in WRONG_SHAPES.items():
        loss = getattr(keras_softplus.losses, loss_name)()
        cases = {
            "square_for_units_1": (np.ones((4, 4)), np.ones((4, width))),
            "one_column_for_units_2": (np.ones((4, 1)), np.ones((4, 2 * width))),
        }
        for case, (y_true, y_pred) in cases.items():
            y_true = keras.ops.convert_to_tensor(y_true, "float32")
            y_pred = keras.ops.convert_to_tensor(y_pred, "float32")
            errors = {"eager": _error_of(lambda: loss(y_true, y_pred))}  # noqa: B023
            if keras.backend.backend() == "jax":
                import jax

                errors["jit"] = _error_of(lambda: jax.jit(loss)(y_true, y_pred))  # noqa: B023
            results["shapes"][f"{loss_name}-{case}"] = errors
    results["distributions"] = {}
    for name, (_, outputs, targets) in DISTRIBUTIONS.items():
        try:
            distribution = getattr(keras_softplus.distributions, name)(
                np.array(outputs, "float32")
            )
            log_prob = distribution.log_prob(np.array(targets, "float32")[:, None])
            results["distributions"][name] = (
                np.asarray(log_prob, "float64").ravel().tolist()
            )
        except Exception as error:  # recorded for the test to judge
            results["distributions"][name] = f"{type(error).__name__}: {error}"
    with open(out_path, "w") as file:
        json.dump(results, file)


@pytest.fixture(scope="module")
def function_grids(tmp_path_factory):
    path = tmp_path_factory.mktemp("grids") / "grids.json"
    path.write_text(json.dumps(grids()))
    return path


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend_results(request, function_grids, tmp_path_factory):
    out_path = tmp_path_factory.mktemp(request.param) / "results.json"
    run_python(
        f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import test_heads_backends; "
        f"test_heads_backends.worker({str(function_grids)!r}, {str(out_path)!r})",
        timeout=600,
        KERAS_BACKEND=request.param,
        **BACKENDS[request.param],
    )
    return json.loads(out_path.read_text())


def test_functions_and_gradients_match_the_reference(backend_results, function_grids):
    assert backend_results["backend"] in BACKENDS
    failures = []
    for function, by_dtype in json.loads(function_grids.read_text()).items():
        for dtype, (y, parameters) in by_dtype.items():
            exact_values, exact_gradients = heads_harness.references(
                function, np.array(y), np.array(parameters)
            )
            values, gradients = map(np.array, backend_results["grids"][function][dtype])
            keep = np.ones(len(y), bool)
            if function in ("poisson_crps", "negative_binomial_crps"):
                keep = ~np.isnan(values) | [
                    heads_harness.count_support_covers(function, row)
                    for row in parameters
                ]
            labels = np.array(heads_harness.point_labels(function, y, parameters))
            gradient_rows = keep & ~np.isnan(values)
            gradient_labels = np.repeat(labels[gradient_rows], gradients.shape[1])
            for quantity, got, exact, names in (
                ("value", values[keep], exact_values[keep], labels[keep]),
                (
                    "gradient",
                    gradients[gradient_rows].ravel(),
                    exact_gradients[gradient_rows].ravel(),
                    gradient_labels,
                ),
            ):
                try:
                    heads_harness.assert_close(got, exact, dtype, quantity, names)
                except AssertionError as error:
                    failures.append(f"{function}: {error}")
    assert not failures, "\n".join(failures)


def test_wrong_target_shapes_raise_the_static_message(backend_results):
    for case, errors in backend_results["shapes"].items():
        for mode, error in errors.items():
            assert error is not None and error.startswith("ValueError"), (
                case,
                mode,
                error,
            )
            assert SHAPE_MESSAGE in error, (case, mode, error)


def test_distributions_give_the_exact_log_probabilities(backend_results):
    """Issue: `as_*` failed on PyTorch ("Cannot convert ... torch.float32")."""
    for name, (function, outputs, targets) in DISTRIBUTIONS.items():
        got = backend_results["distributions"][name]
        assert not isinstance(got, str), (name, got)
        exact = [
            -heads_harness.reference(function, y, *row)[0]
            for y, row in zip(targets, outputs, strict=True)
        ]
        heads_harness.assert_close(
            np.array(got), exact, "float32", "tfp_value", [name] * 2
        )
