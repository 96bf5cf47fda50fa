"""The ops and layers on the JAX and PyTorch backends of Keras 3.

The suite runs under TensorFlow, and a process picks its Keras backend once,
at import. So each backend configuration runs `worker()` below in a fresh
interpreter with `KERAS_BACKEND` set; the worker computes the ops, their
gradients and a small training on fixed inputs and writes them to a file.
The tests here compare those numbers with the TensorFlow kernel in this
process, with 50-digit mpmath, and with the worker's own reloaded model.

This module imports no TensorFlow at import time, so that the workers, which
import it, do not either.
"""

import fractions
import functools
import importlib.util
import json
import os
import sys

import input_grids
import ml_dtypes
import numpy as np
import pytest
from fresh_process import run_python
from input_grids import BETAS

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
QUANTITIES = ("value", "dx", "dbeta")
HALF_DTYPES = ("float16", "bfloat16")
NUMPY_DTYPES = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
}

# One fresh process per run, each computing the `(dtype, mode)` cases listed.
# JAX stores float64 as float32 unless `jax_enable_x64` is set, so float64 on
# JAX gets a run of its own. "jit" compiles the whole value-and-gradient
# computation with XLA (fused, where an FMA contraction could happen);
# "compile" compiles the op with `torch.compile` (Inductor's generated C++,
# forward and backward); "eager" runs op by op.
RUNS = {
    "jax": {
        "backend": "jax",
        "env": {"JAX_ENABLE_X64": "0"},
        "cases": [
            ("float32", "eager"),
            ("float32", "jit"),
            ("float16", "jit"),
            ("bfloat16", "jit"),
        ],
        "train": True,
    },
    "jax_x64": {
        "backend": "jax",
        "env": {"JAX_ENABLE_X64": "1"},
        "cases": [("float64", "jit")],
        "train": False,
    },
    "torch": {
        "backend": "torch",
        "env": {},
        "cases": [
            ("float32", "eager"),
            ("float64", "eager"),
            ("float16", "eager"),
            ("bfloat16", "eager"),
            ("float32", "compile"),
        ],
        "train": True,
    },
}

# Keras path against 50-digit mpmath, in ulp of the exact result: the same
# bounds as the TensorFlow kernel's (tests/test_ops.py). Measured maxima over
# JAX (eager, jit) and PyTorch on the 3001-point grid of tests/test_ops.py:
# float32 2.6 / 2.3 / 3.5 and float64 2.7 / 2.1 / 3.2 ulp (value / dx /
# dbeta); per backend in docs/user-guide/distributed-and-backends.md.
ULP_VS_EXACT = {
    "float32": {"value": 4, "dx": 4, "dbeta": 16},
    "float64": {"value": 4, "dx": 4, "dbeta": 16},
}
# Keras path against the TensorFlow kernel on the same inputs, in ulp of the
# TensorFlow result: both lie within a few ulp of the exact value, with
# different exp implementations. float16 and bfloat16 are computed in
# float32 on both paths and rounded once, so they differ by at most the
# rounding of a float32 difference: 1 ulp of the half dtype.
ULP_VS_TENSORFLOW = {
    "float16": {"value": 1, "dx": 1, "dbeta": 1},
    "bfloat16": {"value": 1, "dx": 1, "dbeta": 1},
    "float32": {"value": 4, "dx": 4, "dbeta": 8},
    "float64": {"value": 4, "dx": 4, "dbeta": 8},
}
# softplus_inverse uses each backend's own log and expm1.
INVERSE_RELATIVE_TOLERANCE = {
    "float16": 2.0**-10,
    "bfloat16": 2.0**-7,
    "float32": 8 * 2.0**-23,
    "float64": 8 * 2.0**-52,
}
HESSIAN_RELATIVE_TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
SECOND_ORDER_POINTS = np.array(
    [(-30.0, 0.5), (-3.0, 2.0), (-0.1, 1.0), (0.0, 0.3), (0.4, 7.0), (25.0, 1.5)]
)
INVERSE_BETA = 1.5


def accuracy_grid():
    """The shared accuracy grid, at 400 points per sign."""
    return input_grids.accuracy_grid(points_per_sign=400)


def extreme_magnitudes(dtype):
    """The shared extreme magnitudes, and infinity."""
    return input_grids.extreme_magnitudes(NUMPY_DTYPES[dtype]) + [np.inf]


def inputs(kind, dtype):
    """The `(x, beta)` arrays of one kind of input, in `dtype`.

    Every beta is paired with every x in one flat array, so that each kind
    is a single call on the backend (one compilation per shape on JAX).
    - "grid": the accuracy grid, for each of BETAS;
    - "inverse": y in [10*tiny, max/10], log-spaced, for beta = 1.5;
    - "extreme": +-extreme_magnitudes for betas from eps to the max.
    """
    numpy_dtype = NUMPY_DTYPES[dtype]
    info = ml_dtypes.finfo(numpy_dtype)
    if kind == "grid":
        x, betas = accuracy_grid(), BETAS
    elif kind == "inverse":
        low, high = np.log10(float(info.tiny)) + 1, np.log10(float(info.max)) - 1
        x, betas = np.logspace(low, high, 200), [INVERSE_BETA]
    else:
        magnitudes = extreme_magnitudes(dtype)
        x = np.array(magnitudes + [-m for m in magnitudes])
        betas = [float(info.eps), 0.05, 1.0, 50.0, 1e4, float(info.max)]
    x = np.tile(x.astype(numpy_dtype), len(betas))
    beta = np.repeat(np.array(betas).astype(numpy_dtype), len(x) // len(betas))
    return x, beta


def two_product_inputs(dtype):
    """Random factors over 60 binades, and factors near the dtype's max.

    The second set makes the Veltkamp split rescale its factor.
    """
    rng = np.random.default_rng(0)
    size = 20000
    a = rng.normal(size=size) * np.exp(rng.uniform(-30, 30, size))
    b = rng.normal(size=size) * np.exp(rng.uniform(-5, 5, size))
    info = np.finfo(dtype)
    large = rng.uniform(0.25, 0.5, 200) * float(info.max)
    small = rng.uniform(1, 2, 200) * 2.0**-100
    a = np.concatenate([a, large, -large]).astype(dtype)
    b = np.concatenate([b, small, 3 * small]).astype(dtype)
    return a, b


def training_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 3)).astype("float32")
    mean = np.abs(x[:, :1]) + 0.5 * x[:, 1:2]
    noise = rng.normal(size=(128, 1)).astype("float32") * (0.2 + 0.3 * np.abs(x[:, 2:]))
    targets = {"normal": mean + noise, "rate": np.abs(mean) + 0.1}
    return x, targets


def build_model():
    """Every layer of the package, with fixed initial weights (not the
    backend's random initializers), so every backend trains the same model."""
    import keras

    from keras_softplus import layers

    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    hidden = layers.BetaSoftplus(beta=1.5, shared_axes=[], name="act")(hidden)
    hidden = layers.PositiveDense(8, name="positive_dense")(hidden)
    outputs = {
        "normal": layers.NormalHead(1, name="normal")(hidden),
        "rate": layers.PositiveHead(1, learn_beta=True, name="rate")(hidden),
    }
    model = keras.Model(inputs, outputs)
    # Kernels from NumPy; the other weights start at constants already.
    rng = np.random.default_rng(1)
    for weight in model.weights:
        if weight.path.endswith("kernel"):
            weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.4)
    return model


def compile_model(model):
    """Plain SGD (no normalised steps that would amplify rounding), the
    package's NormalNLL loss and metrics on the Normal output."""
    import keras

    from keras_softplus import losses
    from keras_softplus import metrics

    model.compile(
        keras.optimizers.SGD(0.01),
        loss={"normal": losses.NormalNLL(), "rate": "mse"},
        metrics={
            "normal": [
                metrics.NormalNLLMetric(),
                metrics.NormalMeanRMSE(),
                metrics.NormalCRPS(),
            ]
        },
    )


def train(model, epochs=3):
    """A few steps on fixed data, no shuffling: deterministic."""
    x, targets = training_data()
    compile_model(model)
    history = model.fit(
        x, targets, epochs=epochs, batch_size=32, shuffle=False, verbose=0
    )
    return history.history["loss"]


def learned_betas(model):
    """The positive betas of the model's softplus layers, as NumPy."""
    import keras

    return {
        "act": keras.ops.convert_to_numpy(model.get_layer("act").beta),
        "rate": keras.ops.convert_to_numpy(model.get_layer("rate").beta),
    }


def validation_cases():
    """Calls that must raise, as `(name, thunk)`; the same on every backend."""
    import keras

    from keras_softplus import ops

    def tensor(value, dtype):
        return keras.ops.convert_to_tensor(np.asarray(value), dtype=dtype)

    bad_inputs = {
        "x_int32_tensor": lambda: tensor([1, 2], "int32"),
        "x_int_list": lambda: [1, 2],
        "x_complex_array": lambda: np.array([1 + 2j]),
        "x_bool_array": lambda: np.array([True]),
    }
    bad_betas = {
        "beta_negative_int": lambda: -1,
        "beta_zero": lambda: 0.0,
        "beta_array_with_negative": lambda: np.array([1.0, -2.0]),
        "beta_nan": lambda: float("nan"),
        "beta_negative_tensor": lambda: tensor(-2.0, "float32"),
        "beta_int_tensor": lambda: tensor(2, "int32"),
        "beta_complex": lambda: 1 + 1j,
        "beta_underflows_in_float16": lambda: 1e-9,
        "beta_overflows_in_float16": lambda: 1e5,
        "beta_infinite": lambda: float("inf"),
        "beta_tensor_overflows_float32": lambda: tensor(1e39, "float64"),
        "beta_shape_incompatible": lambda: tensor([1.0, 2.0, 3.0], "float32"),
    }
    functions = {
        "softplus": ops.softplus,
        "softminus": ops.softminus,
        "softplus_inverse": ops.softplus_inverse,
    }
    cases = []
    for function_name, function in functions.items():
        for name, make in bad_inputs.items():
            cases.append((f"{function_name}-{name}", lambda f=function, m=make: f(m())))
        for name, make in bad_betas.items():
            x_dtype = "float16" if "float16" in name else "float32"
            cases.append(
                (
                    f"{function_name}-{name}",
                    lambda f=function, m=make, d=x_dtype: f(tensor([1.0, 2.0], d), m()),
                )
            )
    return cases


def record_validation():
    """`{case: [exception type, message]}` for every validation case."""
    records = {}
    for name, thunk in validation_cases():
        try:
            thunk()
        except Exception as error:  # noqa: BLE001 - the type is the result
            records[name] = [type(error).__name__, str(error)]
        else:
            records[name] = ["no error", ""]
    return records


def output_dtypes():
    """Output dtype of each op for each kind of input."""
    import keras

    from keras_softplus import ops

    makers = {
        "python_list": lambda: [0.5, 1.0],
        "numpy_float32": lambda: np.array([0.5], "float32"),
        "numpy_float64": lambda: np.array([0.5], "float64"),
        **{
            f"tensor_{dtype}": (
                lambda d=dtype: keras.ops.convert_to_tensor(np.array([0.5]), dtype=d)
            )
            for dtype in NUMPY_DTYPES
        },
    }
    return {
        f"{function.__name__}-{name}": keras.backend.standardize_dtype(
            function(make(), 2.0).dtype
        )
        for name, make in makers.items()
        for function in (ops.softplus, ops.softminus, ops.softplus_inverse)
    }


def layer_with_nan_beta():
    """What an eager `BetaSoftplus` call does once its beta is NaN (a
    diverged training): the layer skips the value check of beta, so on every
    backend it returns NaN rather than raising, as a compiled step would."""
    import keras

    from keras_softplus.layers import BetaSoftplus

    layer = BetaSoftplus()
    layer.build((None, 2))
    layer.raw_beta.assign(np.float32("nan"))
    try:
        outputs = keras.ops.convert_to_numpy(layer(np.ones((1, 2), "float32")))
    except Exception as error:  # noqa: BLE001 - the type is the result
        return type(error).__name__
    return "nan" if np.all(np.isnan(outputs)) else "not nan"


# ---------------------------------------------------------------- worker side


def _to_backend(array, dtype):
    import keras

    wide = array.astype(np.float64 if dtype == "float64" else np.float32)
    return keras.ops.convert_to_tensor(wide, dtype=dtype)


def _to_numpy(tensor):
    import keras

    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if dtype in HALF_DTYPES:
        tensor = keras.ops.cast(tensor, "float32")
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def op_functions():
    from keras_softplus import ops

    return {
        "softplus": ops.softplus,
        "softminus": ops.softminus,
        "softplus_inverse": ops.softplus_inverse,
    }


@functools.cache
def _jax_partials(name, mode):
    """`(u, b) -> (value, d/du, d/db)` by `jax.vjp`, compiled once per mode."""
    import jax
    import jax.numpy as jnp

    function = op_functions()[name]

    def partials(u, b):
        y, vjp = jax.vjp(function, u, b)
        return (y, *vjp(jnp.ones_like(y)))

    return jax.jit(partials) if mode == "jit" else partials


@functools.cache
def _torch_compiled(name):
    import torch

    return torch.compile(op_functions()[name])


def backend_partials(name, x, beta, dtype, mode):
    """`(value, d/dx, d/dbeta)` of an op, elementwise, as NumPy.

    On JAX by `jax.vjp` (all of it under `jax.jit` in "jit" mode); on
    PyTorch by `torch.autograd.grad` (of the `torch.compile`d op in
    "compile" mode).
    """
    import keras

    x_tensor, beta_tensor = _to_backend(x, dtype), _to_backend(beta, dtype)
    if keras.backend.backend() == "jax":
        results = _jax_partials(name, mode)(x_tensor, beta_tensor)
    else:
        import torch

        x_tensor.requires_grad_(True)
        beta_tensor.requires_grad_(True)
        function = _torch_compiled(name) if mode == "compile" else op_functions()[name]
        y = function(x_tensor, beta_tensor)
        grads = torch.autograd.grad(y, (x_tensor, beta_tensor), torch.ones_like(y))
        results = (y.detach(), *grads)
    return [_to_numpy(r) for r in results]


def backend_hessians(x, beta, dtype, mode):
    """Elementwise second derivatives of softplus, shape `(4, n)`:
    d2/dx2, d2/dxdbeta, d2/dbetadx, d2/dbeta2.

    softplus is elementwise, so the gradient of the summed first
    derivatives is the diagonal of each Hessian block.
    """
    import keras

    from keras_softplus import ops

    x_tensor, beta_tensor = _to_backend(x, dtype), _to_backend(beta, dtype)
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        def hessians(u, b):
            def first(u, b):
                return jax.grad(lambda u, b: jnp.sum(ops.softplus(u, b)), (0, 1))(u, b)

            row_x = jax.grad(lambda u, b: jnp.sum(first(u, b)[0]), (0, 1))(u, b)
            row_beta = jax.grad(lambda u, b: jnp.sum(first(u, b)[1]), (0, 1))(u, b)
            return jnp.stack([*row_x, *row_beta])

        if mode == "jit":
            hessians = jax.jit(hessians)
        return _to_numpy(hessians(x_tensor, beta_tensor))
    import torch

    x_tensor.requires_grad_(True)
    beta_tensor.requires_grad_(True)
    grad_x, grad_beta = torch.autograd.grad(
        ops.softplus(x_tensor, beta_tensor).sum(),
        (x_tensor, beta_tensor),
        create_graph=True,
    )
    row_x = torch.autograd.grad(
        grad_x.sum(), (x_tensor, beta_tensor), retain_graph=True
    )
    row_beta = torch.autograd.grad(grad_beta.sum(), (x_tensor, beta_tensor))
    return _to_numpy(torch.stack([*row_x, *row_beta]))


def backend_two_product(a, b, dtype, mode):
    import keras

    from keras_softplus.ops import _kernel
    from keras_softplus.ops._constants import constants_for

    def compute(u, v):
        return _kernel.two_product(u, v, constants_for(dtype))

    if mode == "jit":
        import jax

        compute = jax.jit(compute)
    elif mode == "compile":
        import torch

        compute = torch.compile(compute)
    hi, lo = compute(keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b))
    return _to_numpy(hi), _to_numpy(lo)


def worker(run_name, out_dir):
    """Computes everything the tests compare, on the active backend, and
    writes it to `out_dir` (arrays.npz, meta.json, model.keras)."""
    import keras

    import keras_softplus

    run = RUNS[run_name]
    assert keras.backend.backend() == run["backend"], keras.backend.backend()
    arrays, meta = {}, {}
    for dtype, mode in run["cases"]:
        for kind, names in [
            ("grid", ["softplus", "softminus"]),
            ("inverse", ["softplus_inverse"]),
            ("extreme", ["softplus"]),
        ]:
            x, beta = inputs(kind, dtype)
            for name in names:
                results = backend_partials(name, x, beta, dtype, mode)
                for quantity, result in zip(QUANTITIES, results, strict=False):
                    arrays[f"{kind}|{name}|{dtype}|{mode}|{quantity}"] = result
        if dtype in HALF_DTYPES:
            continue
        a, b = two_product_inputs(dtype)
        hi, lo = backend_two_product(a, b, dtype, mode)
        arrays[f"two_product|{dtype}|{mode}|hi"] = hi
        arrays[f"two_product|{dtype}|{mode}|lo"] = lo
        arrays[f"hessian|{dtype}|{mode}"] = backend_hessians(
            *SECOND_ORDER_POINTS.T.astype(dtype), dtype, mode
        )
    meta["validation"] = record_validation()
    meta["output_dtypes"] = output_dtypes()
    meta["layer_with_nan_beta"] = layer_with_nan_beta()
    meta["modules_after_ops"] = sorted(
        m for m in ("tensorflow", "tensorflow_probability") if m in sys.modules
    )
    if run["train"]:
        model = build_model()
        meta["losses"] = train(model)
        meta["modules_after_training"] = sorted(
            m for m in ("tensorflow_probability",) if m in sys.modules
        )
        x, _ = training_data()
        predictions = model.predict(x, verbose=0)
        for output, value in predictions.items():
            arrays[f"train|predictions|{output}"] = value
        for layer, beta in learned_betas(model).items():
            arrays[f"train|beta|{layer}"] = beta
        for index, weight in enumerate(model.get_weights()):
            arrays[f"train|weight|{index}"] = weight
        path = os.path.join(out_dir, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
        assert type(reloaded.get_layer("act")) is keras_softplus.BetaSoftplus
        for output, value in reloaded.predict(x, verbose=0).items():
            arrays[f"train|reloaded|{output}"] = value
    np.savez(os.path.join(out_dir, "arrays.npz"), **arrays)
    with open(os.path.join(out_dir, "meta.json"), "w") as file:
        json.dump(meta, file)


# ------------------------------------------------------------------ test side


def run_worker(run_name, out_dir):
    """Runs `worker(run_name)` in a fresh interpreter with its backend."""
    run = RUNS[run_name]
    run_python(
        f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import test_backends; "
        f"test_backends.worker({run_name!r}, {str(out_dir)!r})",
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


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(FULL), indirect=["worker_results"]
)
def test_keras_path_accuracy_against_mpmath_within_ulp(worker_results, dtype, mode):
    # Imported here: this module imports no Keras or TensorFlow at import time.
    import mpmath_reference as mp_reference

    _, _, arrays, _ = worker_results
    x, beta = inputs("grid", dtype)
    references = [
        mp_reference.softplus_and_partials(float(u), float(b))
        for u, b in zip(x, beta, strict=True)
    ]
    for index, quantity in enumerate(QUANTITIES):
        got = arrays[f"grid|softplus|{dtype}|{mode}|{quantity}"]
        errors = mp_reference.ulp_errors(got, [r[index] for r in references], dtype)
        worst = int(np.argmax(errors))
        assert errors[worst] <= ULP_VS_EXACT[dtype][quantity], (
            f"{quantity}: {errors[worst]:.2f} ulp at x={x[worst]!r}, "
            f"beta={beta[worst]!r}"
        )


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(ALL), indirect=["worker_results"]
)
def test_softplus_inverse_and_its_gradients_match_tensorflow(
    worker_results, dtype, mode, request
):
    if mode == "compile":
        # Inductor's CPU vector code computes expm1(w) as exp(w) - 1 (torch
        # 2.13): 2.2e-16 instead of 2.5e-16 at w = 2.5e-16. Upstream:
        # pytorch/pytorch#189803. Strict, so a fixed PyTorch shows up here.
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="expm1 under torch.compile")
        )
    _, _, arrays, _ = worker_results
    y, beta = inputs("inverse", dtype)
    y = y.astype(np.float64)
    expected = tensorflow_partials("inverse", "softplus_inverse", dtype)
    got = [arrays[f"inverse|softplus_inverse|{dtype}|{mode}|{q}"] for q in QUANTITIES]
    for quantity, result in zip(QUANTITIES, got, strict=False):
        assert np.all(np.isfinite(result)), quantity
    # Value and d/dy: relative errors, away from the root of
    # softplus_inverse (beta*y = log 2), where it is ill-conditioned.
    well_conditioned = np.abs(INVERSE_BETA * y - np.log(2)) > 0.1
    for index, quantity in enumerate(QUANTITIES[:2]):
        reference = expected[index][well_conditioned]
        relative = np.abs(got[index][well_conditioned] - reference) / np.abs(reference)
        worst = int(np.argmax(relative))
        assert relative[worst] <= INVERSE_RELATIVE_TOLERANCE[dtype], (
            f"{quantity}: relative error {relative[worst]:.2e} at "
            f"y={y[well_conditioned][worst]!r}"
        )
    # d/dbeta = (y*exp(w)/expm1(w) - x) / beta is a difference of two terms
    # of size y/beta and |x|/beta, rounded on both paths, so it is compared
    # in units of those terms. (Beyond beta*y = -log(eps) the TensorFlow
    # kernel's log(-expm1(-w)) rounds to 0 and drops a term of size
    # exp(-w)/beta**2, far below that unit.)
    scale = (np.abs(y) + np.abs(got[0])) / INVERSE_BETA
    error = np.abs(got[2] - expected[2]) / scale
    worst = int(np.argmax(error))
    assert error[worst] <= 16 * INVERSE_RELATIVE_TOLERANCE[dtype], (
        f"dbeta: {got[2][worst]!r} vs TensorFlow {expected[2][worst]!r} "
        f"at y={y[worst]!r}"
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


def tensorflow_hessians(dtype):
    import tensorflow as tf

    from keras_softplus import ops

    x, beta = (tf.constant(v, dtype) for v in SECOND_ORDER_POINTS.T)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, beta])
        with tf.GradientTape() as inner:
            inner.watch([x, beta])
            y = ops.softplus(x, beta)
        grad_x, grad_beta = inner.gradient(y, [x, beta])
    return np.array(
        [outer.gradient(g, v).numpy() for g in (grad_x, grad_beta) for v in (x, beta)]
    )


@pytest.mark.parametrize(
    "worker_results, dtype, mode", case_params(FULL), indirect=["worker_results"]
)
def test_second_derivatives_match_tensorflow(worker_results, dtype, mode):
    _, _, arrays, _ = worker_results
    got = arrays[f"hessian|{dtype}|{mode}"]
    expected = tensorflow_hessians(dtype)
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
