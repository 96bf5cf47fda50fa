"""The worker program of tests/test_backends.py, and what it shares with it.

A process picks its Keras backend once, at import. So each backend
configuration (`RUNS`) runs `worker()` below in a fresh interpreter with
`KERAS_BACKEND` set; the worker computes the ops, their gradients and a
small training on fixed inputs and writes them to a file, which
tests/test_backends.py compares with TensorFlow and mpmath.

This module imports no TensorFlow at import time, so that the workers do
not either.
"""

import contextlib
import functools
import json
import math
import os
import sys

import input_grids
import ml_dtypes
import numpy as np
from input_grids import BETAS
from input_grids import seeded_normal

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
# forward and backward); "eager" runs op by op; "large" is the eager call
# of a tensor of `_torch_compiled.COMPILED_SIZE` elements or more, which the
# package runs through its own Inductor-compiled kernel (the size threshold
# is lowered to 0 for these cases, so the grids need not be that large).
# PyTorch's Inductor-compiled float32 kernels take the float64 product in
# "compile" and "large", the error-free float32 product in their
# "_error_free" twins (`_execution.INDUCTOR_CONVERTS_SLOWLY` set either way,
# whatever the CPU), so that both forms are held to the bounds on every
# machine.
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
            ("float32", "compile_error_free"),
            ("float32", "large"),
            ("float32", "large_error_free"),
            ("float64", "large"),
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
    - "minus_inverse": the same y, negated (for softminus_inverse);
    - "inverse_grid": y = m/beta for the grid's positive magnitudes m (beta*y
      from 1e-6 to 3e3), for each of BETAS; "minus_inverse_grid" negated;
    - "extreme": +-extreme_magnitudes for betas from eps to the max.
    """
    numpy_dtype = NUMPY_DTYPES[dtype]
    info = ml_dtypes.finfo(numpy_dtype)
    if kind == "grid":
        x, betas = accuracy_grid(), BETAS
    elif kind in ("inverse_grid", "minus_inverse_grid"):
        sign = -1.0 if kind == "minus_inverse_grid" else 1.0
        magnitudes = accuracy_grid()[accuracy_grid() > 0]
        x = np.concatenate([sign * magnitudes / b for b in BETAS])
        beta = np.repeat(np.array(BETAS), len(magnitudes))
        return x.astype(numpy_dtype), beta.astype(numpy_dtype)
    elif kind in ("inverse", "minus_inverse"):
        sign = -1.0 if kind == "minus_inverse" else 1.0
        low, high = np.log10(float(info.tiny)) + 1, np.log10(float(info.max)) - 1
        x, betas = sign * np.logspace(low, high, 200), [INVERSE_BETA]
    else:
        magnitudes = extreme_magnitudes(dtype)
        x = np.array(magnitudes + [-m for m in magnitudes])
        betas = [float(info.eps), 0.05, 1.0, 50.0, 1e4, float(info.max)]
    x = np.tile(x.astype(numpy_dtype), len(betas))
    beta = np.repeat(np.array(betas).astype(numpy_dtype), len(x) // len(betas))
    return x, beta


@functools.cache
def exact_inverse_partials(name, y, beta):
    """`(value, d/dy, d/dbeta)` of `name` ("softplus_inverse" or
    "softminus_inverse") from tests/mpmath_reference.py, with as many digits
    beyond its 50 as its d/dbeta formula, `(y*d/dy - value)/beta`, cancels:
    the result is about exp(-beta*|y|) times its terms."""
    import mpmath
    import mpmath_reference

    reference = getattr(mpmath_reference, f"{name}_and_partials").__wrapped__
    with mpmath.workdps(50 + int(abs(y * beta) / math.log(10))):
        return reference(y, beta)


def two_product_inputs(dtype):
    """Random factors over 60 binades, and factors near the dtype's max.

    The second set makes the Veltkamp split rescale its factor.
    """
    size = 20000
    a = seeded_normal(size, seed=0, dtype="float64") * np.exp(
        seeded_normal(size, seed=1, scale=10.0, dtype="float64")
    )
    b = seeded_normal(size, seed=2, dtype="float64") * np.exp(
        seeded_normal(size, seed=3, scale=2.0, dtype="float64")
    )
    large = np.linspace(0.25, 0.5, 200) * float(np.finfo(dtype).max)
    small = np.linspace(1.0, 2.0, 200) * 2.0**-100
    a = np.concatenate([a, large, -large]).astype(dtype)
    b = np.concatenate([b, small, 3 * small]).astype(dtype)
    return a, b


def training_data():
    x = seeded_normal((128, 3), seed=0)
    mean = np.abs(x[:, :1]) + 0.5 * x[:, 1:2]
    noise = seeded_normal((128, 1), seed=1) * (0.2 + 0.3 * np.abs(x[:, 2:]))
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
    for index, weight in enumerate(model.weights):
        if weight.path.endswith("kernel"):
            weight.assign(seeded_normal(weight.shape, seed=index, scale=0.4))
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
        "softminus_inverse": ops.softminus_inverse,
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


def compiled_kernel_fallback():
    """PyTorch: a large eager call when Inductor fails (as without a C++
    compiler): the warning, and whether the result equals the eager form's.
    The package's compiled state is restored afterwards."""
    import warnings

    import torch._inductor

    from keras_softplus import ops
    from keras_softplus.ops import _torch_compiled

    def failing_compile(graph, example_inputs, options=None):
        raise RuntimeError("no C++ compiler (simulated)")

    x = torch.linspace(-30.0, 30.0, _torch_compiled.COMPILED_SIZE)
    beta = torch.tensor(1.3)
    expected = ops.softplus(x[:4096], beta)  # below the size: the eager form
    saved = dict(_torch_compiled.COMPILED), list(_torch_compiled.FAILURES)
    _torch_compiled.COMPILED.clear()
    _torch_compiled.FAILURES.clear()
    compile_function, torch._inductor.compile = torch._inductor.compile, failing_compile
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = ops.softplus(x, beta)  # the kernel's full form, uncompiled
            then = ops.softplus(x, beta)  # warned once; the eager form
        return {
            "warnings": [
                str(w.message) for w in caught if "keras_softplus" in str(w.message)
            ],
            "first_close": bool(torch.allclose(first, then, rtol=4e-7, atol=0)),
            "then_equal": bool(torch.equal(then[:4096], expected)),
        }
    finally:
        torch._inductor.compile = compile_function
        _torch_compiled.COMPILED.clear()
        _torch_compiled.COMPILED.update(saved[0])
        _torch_compiled.FAILURES[:] = saved[1]


def saved_for_backward_under_compile():
    """PyTorch: what a `torch.compile`d `softplus` (learned beta) saves for
    its backward, per dtype and mode: `[dtype, number of elements]` per
    tensor. Inductor's CPU code stores a bool tensor many times slower than
    a float one, so a saved mask of x's size would cost more than the
    kernel."""
    import torch

    found = {}
    cases = [
        ("float32", "compile"),
        ("float32", "compile_error_free"),
        ("float64", "compile"),
    ]
    for dtype, mode in cases:
        x = torch.linspace(-30.0, 30.0, 4096, dtype=getattr(torch, dtype))
        x = x.reshape(64, 64).requires_grad_(True)
        beta = torch.tensor(1.5, dtype=x.dtype, requires_grad=True)
        compiled = _torch_compiled("softplus", mode)
        saved = []

        def pack(tensor, saved=saved):
            saved.append([str(tensor.dtype).removeprefix("torch."), tensor.numel()])
            return tensor

        with torch_case(mode):
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                y = compiled(x, beta)
            torch.autograd.grad(y, (x, beta), torch.ones_like(y))
        found[f"{dtype}|{mode}"] = saved
    return found


def jax_float32_wide_product():
    """JAX without `jax_enable_x64`: the float64 ops in the optimized HLO of
    a jitted float32 fwd+bwd of `softplus` (the kernel's product in float64,
    within `jax.enable_x64`), the dtypes of its results, eagerly and
    compiled, and whether x64 stays off for the caller."""
    import jax
    import jax.numpy as jnp

    from keras_softplus import ops

    def partials(x, beta):
        y, vjp = jax.vjp(ops.softplus, x, beta)
        return (y, *vjp(jnp.ones_like(y)))

    x = jnp.linspace(-30.0, 30.0, 1024, dtype=jnp.float32)
    beta = jnp.float32(1.5)
    compiled = jax.jit(partials).lower(x, beta).compile().as_text()
    return {
        "float64_multiplies": sum(
            "f64[1024]" in line and "multiply(" in line
            for line in compiled.splitlines()
        ),
        "jit_dtypes": [str(r.dtype) for r in jax.jit(partials)(x, beta)],
        "eager_dtypes": [str(r.dtype) for r in partials(x, beta)],
        "x64_after": bool(jax.config.jax_enable_x64),
    }


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
        "softminus_inverse": ops.softminus_inverse,
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
def _torch_compiled(name, mode):
    """The op `torch.compile`d, one per mode (each traces with its product)."""
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
        compiled = mode.startswith("compile")
        function = _torch_compiled(name, mode) if compiled else op_functions()[name]
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


def tensorflow_hessians(x, beta):
    """`backend_hessians` of TensorFlow (the reference of the other backends),
    by nested gradient tapes; `x`, `beta` NumPy arrays of one dtype."""
    import tensorflow as tf

    from keras_softplus import ops

    x, beta = tf.constant(x), tf.constant(beta)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, beta])
        with tf.GradientTape() as inner:
            inner.watch([x, beta])
            y = ops.softplus(x, beta)
        grad_x, grad_beta = inner.gradient(y, [x, beta])
    return np.array(
        [outer.gradient(g, v).numpy() for g in (grad_x, grad_beta) for v in (x, beta)]
    )


def backend_two_product(a, b, dtype, mode):
    import keras

    from keras_softplus.ops import _kernel
    from keras_softplus.ops._constants import constants_for

    def compute(u, v):
        return _kernel.two_product(u, v, constants_for(dtype))

    if mode == "jit":
        import jax

        compute = jax.jit(compute)
    elif mode.startswith("compile"):
        import torch

        compute = torch.compile(compute)
    hi, lo = compute(keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b))
    return _to_numpy(hi), _to_numpy(lo)


@contextlib.contextmanager
def torch_case(mode):
    """PyTorch's modes: in "large*" every eager call takes the compiled
    kernel; "*_error_free" sets `INDUCTOR_CONVERTS_SLOWLY` (the error-free
    float32 product in Inductor's kernels), the others clear it. Both are
    restored afterwards."""
    from keras_softplus.ops import _execution
    from keras_softplus.ops import _torch_compiled

    size, slowly = (
        _torch_compiled.COMPILED_SIZE,
        dict(_execution.INDUCTOR_CONVERTS_SLOWLY),
    )
    if mode.startswith("large"):
        _torch_compiled.COMPILED_SIZE = 0
    _execution.INDUCTOR_CONVERTS_SLOWLY["active"] = mode.endswith("_error_free")
    try:
        yield
    finally:
        _torch_compiled.COMPILED_SIZE = size
        _execution.INDUCTOR_CONVERTS_SLOWLY.update(slowly)


def compiled_float32_products():
    """The `wide` of each float32 kernel that `_torch_compiled` compiled
    ("float64", or "None" for the error-free product)."""
    import torch

    from keras_softplus.ops import _torch_compiled

    return sorted(
        {
            str(dict(key[1])["wide"])
            for key in _torch_compiled.COMPILED
            if key[2][0] == torch.float32
        }
    )


def torch_float32_product():
    """`_execution.wide_dtype` of a float32 CPU tensor per execution mode,
    with `INDUCTOR_CONVERTS_SLOWLY` cleared and set (restored after)."""
    import torch

    from keras_softplus.ops import _execution

    x = torch.ones(3)
    products = {}
    for slowly, case in [(False, "compile"), (True, "compile_error_free")]:
        with torch_case(case):
            products[str(slowly)] = {
                mode: _execution.wide_dtype("float32", mode, x)
                for mode in ("eager", "compiled", "fused")
            }
    return products


def compute_case(arrays, dtype, mode):
    """The grids' partials, the two-product and the Hessians of one case."""
    for kind, names in [
        ("grid", ["softplus", "softminus"]),
        ("inverse", ["softplus_inverse"]),
        ("minus_inverse", ["softminus_inverse"]),
        ("inverse_grid", ["softplus_inverse"]),
        ("minus_inverse_grid", ["softminus_inverse"]),
        ("extreme", ["softplus"]),
    ]:
        x, beta = inputs(kind, dtype)
        for name in names:
            results = backend_partials(name, x, beta, dtype, mode)
            for quantity, result in zip(QUANTITIES, results, strict=False):
                arrays[f"{kind}|{name}|{dtype}|{mode}|{quantity}"] = result
    if dtype in HALF_DTYPES:
        return
    a, b = two_product_inputs(dtype)
    hi, lo = backend_two_product(a, b, dtype, mode)
    arrays[f"two_product|{dtype}|{mode}|hi"] = hi
    arrays[f"two_product|{dtype}|{mode}|lo"] = lo
    arrays[f"hessian|{dtype}|{mode}"] = backend_hessians(
        *SECOND_ORDER_POINTS.T.astype(dtype), dtype, mode
    )


def worker(run_name, out_dir):
    """Computes everything the tests compare, on the active backend, and
    writes it to `out_dir` (arrays.npz, meta.json, model.keras)."""
    import keras

    import keras_softplus

    run = RUNS[run_name]
    assert keras.backend.backend() == run["backend"], keras.backend.backend()
    arrays, meta = {}, {}
    for dtype, mode in run["cases"]:
        torch_run = run["backend"] == "torch"
        with torch_case(mode) if torch_run else contextlib.nullcontext():
            compute_case(arrays, dtype, mode)
    if run["backend"] == "torch":
        from keras_softplus.ops import _torch_compiled

        meta["torch_compiled"] = {
            "functions": sorted({key[0] for key in _torch_compiled.COMPILED}),
            "failures": [repr(error) for error in _torch_compiled.FAILURES],
            "float32_products": compiled_float32_products(),
        }
        meta["torch_float32_product"] = torch_float32_product()
    meta["validation"] = record_validation()
    meta["output_dtypes"] = output_dtypes()
    meta["layer_with_nan_beta"] = layer_with_nan_beta()
    if run_name == "jax":
        meta["jax_float32_wide_product"] = jax_float32_wide_product()
    if run["backend"] == "torch":
        meta["compiled_kernel_fallback"] = compiled_kernel_fallback()
        meta["saved_for_backward_under_compile"] = saved_for_backward_under_compile()
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
