"""The ops and layers on the JAX and PyTorch backends of Keras 3.

The suite runs under TensorFlow; each backend configuration runs the worker
program of tests/backend_worker.py in a fresh interpreter. The tests here
compare its numbers with the TensorFlow kernel in this process, with
50-digit mpmath, and with the worker's own reloaded model.
"""

import fractions
import functools
import importlib.util
import json
import os

import ml_dtypes
import numpy as np
import pytest
from backend_worker import HALF_DTYPES
from backend_worker import HESSIAN_RELATIVE_TOLERANCE
from backend_worker import INVERSE_BETA
from backend_worker import INVERSE_RELATIVE_TOLERANCE
from backend_worker import NUMPY_DTYPES
from backend_worker import QUANTITIES
from backend_worker import RUNS
from backend_worker import SECOND_ORDER_POINTS
from backend_worker import TESTS_DIR
from backend_worker import ULP_VS_EXACT
from backend_worker import ULP_VS_TENSORFLOW
from backend_worker import build_model
from backend_worker import exact_inverse_partials
from backend_worker import inputs
from backend_worker import layer_with_nan_beta
from backend_worker import learned_betas
from backend_worker import op_functions
from backend_worker import output_dtypes
from backend_worker import record_validation
from backend_worker import tensorflow_hessians
from backend_worker import train
from backend_worker import training_data
from backend_worker import two_product_inputs
from fresh_process import run_python


def run_worker(run_name, out_dir):
    """Runs `worker(run_name)` in a fresh interpreter with its backend."""
    run = RUNS[run_name]
    run_python(
        f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import backend_worker; "
        f"backend_worker.worker({run_name!r}, {str(out_dir)!r})",
        timeout=600,
        KERAS_BACKEND=run["backend"],
        **run["env"],
    )
    with np.load(os.path.join(out_dir, "arrays.npz")) as data:
        arrays = dict(data)
    with open(os.path.join(out_dir, "meta.json")) as file:
        meta = json.load(file)
    return arrays, meta


_WORKER_RESULTS = {}


@pytest.fixture(scope="module")
def worker_results(request, tmp_path_factory):
    """`(run name, output folder, arrays, meta)` of one run, run once."""
    run_name = request.param
    backend = RUNS[run_name]["backend"]
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install -e '.[backends]')")
    if run_name not in _WORKER_RESULTS:
        out_dir = tmp_path_factory.mktemp(run_name)
        try:
            arrays, meta = run_worker(run_name, out_dir)
        except AssertionError as failure:  # reported once per test, run once
            _WORKER_RESULTS[run_name] = failure
        else:
            _WORKER_RESULTS[run_name] = (run_name, out_dir, arrays, meta)
    if isinstance(_WORKER_RESULTS[run_name], AssertionError):
        raise _WORKER_RESULTS[run_name]
    return _WORKER_RESULTS[run_name]


def run_ids(predicate=lambda run: True):
    return [name for name, run in RUNS.items() if predicate(run)]


def case_params(dtypes):
    """`(run, dtype, mode)` of every case of every run with a dtype in `dtypes`."""
    return [
        pytest.param(run_name, dtype, mode, id=f"{run_name}-{dtype}-{mode}")
        for run_name, run in RUNS.items()
        for dtype, mode in run["cases"]
        if dtype in dtypes
    ]


FULL = ("float32", "float64")
ALL = FULL + HALF_DTYPES


def ulp_distance(got, reference, dtype):
    """|got - reference| in ulp of `reference` in `dtype`, elementwise.

    Equal values (infinities included) are 0 apart; an absolute difference
    below the dtype's smallest normal counts as 0, as in mp_reference.
    """
    info = ml_dtypes.finfo(NUMPY_DTYPES[dtype])
    got = np.asarray(got, np.float64)
    reference = np.asarray(reference, np.float64)
    with np.errstate(invalid="ignore"):
        difference = np.where(got == reference, 0.0, np.abs(got - reference))
    difference = np.where(difference < float(info.tiny), 0.0, difference)
    magnitude = np.maximum(np.abs(reference), float(info.tiny))
    _, exponent = np.frexp(np.where(np.isfinite(magnitude), magnitude, 1.0))
    ulp = np.ldexp(1.0, exponent - 1 - info.nmant)
    return difference / ulp


@functools.cache
def tensorflow_partials(kind, name, dtype):
    """`(value, d/dx, d/dbeta)` of the TensorFlow kernel on `inputs(kind)`."""
    import tensorflow as tf

    x, beta = inputs(kind, dtype)
    x_tensor = tf.cast(tf.constant(x.astype(np.float64)), dtype)
    beta_tensor = tf.cast(tf.constant(beta.astype(np.float64)), dtype)
    with tf.GradientTape() as tape:
        tape.watch([x_tensor, beta_tensor])
        y = op_functions()[name](x_tensor, beta_tensor)
    grad_x, grad_beta = tape.gradient(y, [x_tensor, beta_tensor])
    return [np.asarray(tf.cast(t, tf.float64)) for t in (y, grad_x, grad_beta)]


def assert_within_ulp_of_tensorflow(arrays, kind, name, dtype, mode, ignore=None):
    x, beta = inputs(kind, dtype)
    expected = tensorflow_partials(kind, name, dtype)
    for quantity, reference in zip(QUANTITIES, expected, strict=False):
        got = arrays[f"{kind}|{name}|{dtype}|{mode}|{quantity}"]
        assert not np.any(np.isnan(got)), f"{name} {quantity}: NaN"
        np.testing.assert_array_equal(
            np.isfinite(got), np.isfinite(reference), err_msg=f"{name} {quantity}"
        )
        distance = ulp_distance(got, reference, dtype)
        if ignore is not None:
            distance[ignore] = 0.0
        worst = int(np.argmax(distance))
        assert distance[worst] <= ULP_VS_TENSORFLOW[dtype][quantity], (
            f"{name} {quantity}: {distance[worst]:.1f} ulp from TensorFlow at "
            f"x={x[worst]!r}, beta={beta[worst]!r} "
            f"({got[worst]!r} vs {reference[worst]!r})"
        )


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(ALL), indirect=["worker_results"]
)
@pytest.mark.parametrize("name", ["softplus", "softminus"])
def test_value_and_gradients_match_tensorflow_within_ulp(
    worker_results, name, dtype, mode
):
    _, _, arrays, _ = worker_results
    assert_within_ulp_of_tensorflow(arrays, "grid", name, dtype, mode)


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(ALL), indirect=["worker_results"]
)
def test_extreme_and_infinite_inputs_match_tensorflow_without_nan(
    worker_results, dtype, mode
):
    _, _, arrays, _ = worker_results
    x, _ = inputs("extreme", dtype)
    # TensorFlow flushes subnormal inputs to zero on CPU, PyTorch does not:
    # at subnormal x only NaN and overflow are compared.
    tiny = float(ml_dtypes.finfo(NUMPY_DTYPES[dtype]).tiny)
    subnormal = (x != 0) & (np.abs(x.astype(np.float64)) < tiny)
    assert_within_ulp_of_tensorflow(
        arrays, "extreme", "softplus", dtype, mode, ignore=subnormal
    )


def assert_within_ulp_of_mpmath(arrays, kind, name, dtype, mode, reference):
    """The worker's `(value, d/dx, d/dbeta)` of `name` on `inputs(kind)`
    within `ULP_VS_EXACT` of `reference(x, beta)` (mpmath numbers)."""
    # Imported here: this module imports no Keras or TensorFlow at import time.
    import mpmath_reference as mp_reference

    x, beta = inputs(kind, dtype)
    exact = [reference(float(u), float(b)) for u, b in zip(x, beta, strict=True)]
    for index, quantity in enumerate(QUANTITIES):
        got = arrays[f"{kind}|{name}|{dtype}|{mode}|{quantity}"]
        errors = mp_reference.ulp_errors(got, [e[index] for e in exact], dtype)
        worst = int(np.argmax(errors))
        assert errors[worst] <= ULP_VS_EXACT[dtype][quantity], (
            f"{name} {quantity}: {errors[worst]:.2f} ulp at x={x[worst]!r}, "
            f"beta={beta[worst]!r}"
        )


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(FULL), indirect=["worker_results"]
)
def test_keras_path_accuracy_against_mpmath_within_ulp(worker_results, dtype, mode):
    import mpmath_reference as mp_reference

    _, _, arrays, _ = worker_results
    assert_within_ulp_of_mpmath(
        arrays, "grid", "softplus", dtype, mode, mp_reference.softplus_and_partials
    )


@pytest.mark.parametrize(
    "kind, name",
    [("inverse", "softplus_inverse"), ("minus_inverse", "softminus_inverse")],
    ids=["softplus_inverse", "softminus_inverse"],
)
@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(ALL), indirect=["worker_results"]
)
def test_inverses_and_their_gradients_match_tensorflow(
    worker_results, dtype, mode, kind, name
):
    # The inverses use the kernel's expm1 series, not the backend's: under
    # torch.compile, Inductor's CPU vector code computes expm1(w) as
    # exp(w) - 1 (torch 2.13, pytorch/pytorch#189803).
    _, _, arrays, _ = worker_results
    y, beta = inputs(kind, dtype)
    y = y.astype(np.float64)
    expected = tensorflow_partials(kind, name, dtype)
    got = [arrays[f"{kind}|{name}|{dtype}|{mode}|{q}"] for q in QUANTITIES]
    for quantity, result in zip(QUANTITIES, got, strict=False):
        assert np.all(np.isfinite(result)), quantity
    # Value and d/dy: relative errors, away from the root of
    # the inverse (beta*|y| = log 2), where it is ill-conditioned.
    well_conditioned = np.abs(INVERSE_BETA * np.abs(y) - np.log(2)) > 0.1
    for index, quantity in enumerate(QUANTITIES[:2]):
        reference = expected[index][well_conditioned]
        relative = np.abs(got[index][well_conditioned] - reference) / np.abs(reference)
        worst = int(np.argmax(relative))
        assert relative[worst] <= INVERSE_RELATIVE_TOLERANCE[dtype], (
            f"{quantity}: relative error {relative[worst]:.2e} at "
            f"y={y[well_conditioned][worst]!r}"
        )
    # d/dbeta, over the whole range (subnormal to huge y, where float32
    # without float64 and float32 with it under- and overflow at different
    # y), in units of the terms of its definition, (y*d/dy - x)/beta; its
    # ulp accuracy against mpmath is tested on the grid below.
    scale = (np.abs(y) + np.abs(got[0])) / INVERSE_BETA
    error = np.abs(got[2] - expected[2]) / scale
    worst = int(np.argmax(error))
    assert error[worst] <= 16 * INVERSE_RELATIVE_TOLERANCE[dtype], (
        f"dbeta: {got[2][worst]!r} vs TensorFlow {expected[2][worst]!r} "
        f"at y={y[worst]!r}"
    )


@pytest.mark.parametrize(
    "kind, name",
    [
        ("inverse_grid", "softplus_inverse"),
        ("minus_inverse_grid", "softminus_inverse"),
    ],
    ids=["softplus_inverse", "softminus_inverse"],
)
@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(FULL), indirect=["worker_results"]
)
def test_inverses_against_mpmath_within_ulp(worker_results, dtype, mode, kind, name):
    _, _, arrays, _ = worker_results
    assert_within_ulp_of_mpmath(
        arrays, kind, name, dtype, mode, functools.partial(exact_inverse_partials, name)
    )


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(FULL), indirect=["worker_results"]
)
def test_veltkamp_two_product_is_error_free(worker_results, dtype, mode):
    _, _, arrays, _ = worker_results
    a, b = two_product_inputs(dtype)
    hi = arrays[f"two_product|{dtype}|{mode}|hi"]
    lo = arrays[f"two_product|{dtype}|{mode}|lo"]
    assert hi.dtype == lo.dtype == np.dtype(dtype)
    if dtype == "float32":
        exact = a.astype(np.float64) * b.astype(np.float64)
        np.testing.assert_array_equal(
            hi.astype(np.float64) + lo.astype(np.float64), exact
        )
    else:
        # Every 37th random pair, and all pairs with a factor near the max.
        indices = list(range(0, 20000, 37)) + list(range(20000, len(a)))
        inexact = [
            i
            for i in indices
            if fractions.Fraction(hi[i]) + fractions.Fraction(lo[i])
            != fractions.Fraction(a[i]) * fractions.Fraction(b[i])
        ]
        assert not inexact, f"inexact for a, b = {a[inexact[0]]!r}, {b[inexact[0]]!r}"


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(FULL), indirect=["worker_results"]
)
def test_second_derivatives_match_tensorflow(worker_results, dtype, mode):
    _, _, arrays, _ = worker_results
    got = arrays[f"hessian|{dtype}|{mode}"]
    expected = tensorflow_hessians(*SECOND_ORDER_POINTS.T.astype(dtype))
    tolerance = HESSIAN_RELATIVE_TOLERANCE[dtype]
    # The mixed derivatives are autodiff of formulas whose terms cancel where
    # they vanish (x = 0): a residue of a few eps in their natural scale
    # sqrt(|d2/dx2 * d2/dbeta2|).
    mixed_scale = np.sqrt(np.abs(expected[0] * expected[3]))
    residue = (
        16
        * float(np.finfo(dtype).eps)
        * np.stack([0 * mixed_scale, mixed_scale, mixed_scale, 0 * mixed_scale])
    )
    for actual in (got, got[[0, 2, 1, 3]]):  # and the symmetry of the Hessian
        error = np.abs(actual - expected)
        assert np.all(error <= tolerance * np.abs(expected) + residue), (
            actual,
            expected,
        )


@pytest.mark.parametrize("worker_results", run_ids(), indirect=True)
def test_validation_errors_are_the_same_as_on_tensorflow(worker_results):
    _, _, _, meta = worker_results
    expected = record_validation()
    assert meta["validation"].keys() == expected.keys()
    for case, (error_type, message) in expected.items():
        got_type, got_message = meta["validation"][case]
        assert error_type in ("TypeError", "ValueError"), f"{case}: {error_type}"
        assert got_type == error_type, f"{case}: {got_type} ({got_message})"
        if case.endswith(("beta_negative_tensor", "beta_tensor_overflows_float32")):
            # The message ends in the backend's repr of the tensor.
            message = message.split("Received:")[0]
            got_message = got_message.split("Received:")[0]
        assert got_message == message, case


@pytest.mark.parametrize("worker_results", run_ids(), indirect=True)
def test_output_dtype_follows_input_as_on_tensorflow(worker_results):
    run_name, _, _, meta = worker_results
    expected = output_dtypes()
    if RUNS[run_name]["env"].get("JAX_ENABLE_X64") == "0":
        # JAX without jax_enable_x64 has no float64: it stores it as float32.
        expected = {
            k: ("float32" if v == "float64" else v) for k, v in expected.items()
        }
    assert meta["output_dtypes"] == expected


@pytest.mark.parametrize("worker_results", run_ids(), indirect=True)
def test_layer_with_nan_beta_returns_nan_as_on_tensorflow(worker_results):
    _, _, _, meta = worker_results
    assert layer_with_nan_beta() == "nan"
    assert meta["layer_with_nan_beta"] == "nan"


@pytest.mark.parametrize("worker_results", run_ids(), indirect=True)
def test_ops_import_neither_tensorflow_nor_tfp_on_other_backends(worker_results):
    _, _, _, meta = worker_results
    assert meta["modules_after_ops"] == []


@pytest.mark.parametrize(
    "worker_results", run_ids(lambda r: r["backend"] == "torch"), indirect=True
)
def test_large_eager_torch_tensors_run_the_compiled_kernel(worker_results):
    """The "large" cases compiled the forward and the fused backward, and
    their results are those the grid tests above hold to the ulp bounds."""
    _, _, _, meta = worker_results
    assert meta["torch_compiled"] == {
        "functions": ["_gradients", "_value"],
        "failures": [],
        "float32_products": ["None", "float64"],
    }


@pytest.mark.parametrize(
    "worker_results", run_ids(lambda r: r["backend"] == "torch"), indirect=True
)
def test_torch_inductor_kernels_take_the_error_free_product_where_conversion_is_slow(
    worker_results,
):
    """Where Inductor converts float32 to float64 slowly (Intel CPUs), its
    float32 kernels take the error-free product; op by op the float64 one."""
    _, _, _, meta = worker_results
    assert meta["torch_float32_product"] == {
        "False": {"eager": "float64", "compiled": "float64", "fused": "float64"},
        "True": {"eager": "float64", "compiled": None, "fused": None},
    }


@pytest.mark.parametrize(
    "worker_results", run_ids(lambda r: r["backend"] == "torch"), indirect=True
)
def test_failed_torch_compilation_warns_once_and_runs_eagerly(worker_results):
    _, _, _, meta = worker_results
    fallback = meta["compiled_kernel_fallback"]
    assert len(fallback["warnings"]) == 1, fallback["warnings"]
    assert "could not compile its PyTorch kernel" in fallback["warnings"][0]
    assert "no C++ compiler (simulated)" in fallback["warnings"][0]
    assert fallback["first_close"] and fallback["then_equal"]


@pytest.mark.parametrize(
    "worker_results", run_ids(lambda r: r["backend"] == "torch"), indirect=True
)
def test_torch_compile_saves_only_x_and_beta_for_the_backward(worker_results):
    """Under `torch.compile`, the backward recomputes the kernel from x and
    beta: no mask (bool tensor) of x's size is saved from the forward."""
    _, _, _, meta = worker_results
    for case, saved in meta["saved_for_backward_under_compile"].items():
        dtype = case.split("|")[0]
        assert [s for s in saved if s[1] > 1] == [[dtype, 4096]], (dtype, saved)
        assert [dtype, 1] in saved, (dtype, saved)


@pytest.mark.parametrize("worker_results", ["jax"], indirect=True)
def test_jax_float32_takes_the_product_in_float64_without_x64(worker_results):
    """Without `jax_enable_x64`, float32 forms `beta*x` in float64 (exact)
    inside the kernel, as on the other backends, instead of the longer
    error-free product; the caller's dtypes and x64 setting are unchanged."""
    _, _, _, meta = worker_results
    found = meta["jax_float32_wide_product"]
    assert found["float64_multiplies"] >= 1, found
    assert found["jit_dtypes"] == ["float32"] * 3, found
    assert found["eager_dtypes"] == ["float32"] * 3, found
    assert not found["x64_after"], found


@pytest.mark.parametrize("worker_results", run_ids(lambda r: r["train"]), indirect=True)
def test_training_every_layer_and_loss_matches_tensorflow(worker_results):
    import keras

    _, _, arrays, meta = worker_results
    losses = meta["losses"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # Heads, NormalNLL and the metrics train without TensorFlow Probability.
    assert meta["modules_after_training"] == []
    model = build_model()
    expected_losses = train(model)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4)
    for index, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(
            arrays[f"train|weight|{index}"],
            weight,
            rtol=1e-4,
            atol=1e-6,
            err_msg=model.weights[index].path,
        )
    for layer, beta in learned_betas(model).items():
        np.testing.assert_allclose(arrays[f"train|beta|{layer}"], beta, rtol=1e-5)
    assert keras.backend.backend() == "tensorflow"


@pytest.mark.parametrize("worker_results", run_ids(lambda r: r["train"]), indirect=True)
def test_keras_file_reloads_on_its_backend_and_on_tensorflow(worker_results):
    import keras

    _, out_dir, arrays, _ = worker_results
    x, _ = training_data()
    reloaded = keras.saving.load_model(os.path.join(out_dir, "model.keras"))
    predictions = reloaded.predict(x, verbose=0)
    for output in ("normal", "rate"):
        np.testing.assert_array_equal(
            arrays[f"train|reloaded|{output}"], arrays[f"train|predictions|{output}"]
        )
        np.testing.assert_allclose(
            predictions[output],
            arrays[f"train|predictions|{output}"],
            rtol=1e-5,
            atol=1e-6,
        )
