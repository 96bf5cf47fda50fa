"""Tests of `keras_softplus.ops` against 50-digit mpmath references."""

import contextlib
import fractions
import re

import ml_dtypes
import mpmath_reference as mp_reference
import numpy as np
import pytest
import tensorflow as tf
from backend_worker import tensorflow_hessians
from backend_worker import two_product_inputs
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from input_grids import BETAS
from input_grids import accuracy_grid
from input_grids import extreme_magnitudes
from input_grids import seeded_normal

from keras_softplus import ops
from keras_softplus.ops import _kernel
from keras_softplus.ops._constants import constants_for

ULP_TOLERANCE = {
    "float32": {"value": 4, "dx": 4, "dbeta": 16},
    "float64": {"value": 4, "dx": 4, "dbeta": 16},
}
HALF_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
ALL_DTYPES = ["float16", "bfloat16", "float32", "float64"]
QUANTITIES = ("value", "dx", "dbeta")


def value_and_partials(x, beta):
    """softplus and its gradients in x and beta, beta broadcast per element."""
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = ops.softplus(x, beta)
    grad_x, grad_beta = tape.gradient(y, [x, beta])
    return y, grad_x, grad_beta


def compiled_modes():
    """`value_and_partials` eagerly, in a `tf.function` and under XLA (fresh
    traces: a trace keeps the `float32_only` scope it was made in)."""
    return {
        "eager": value_and_partials,
        "tf_function": tf.function(value_and_partials),
        "xla": tf.function(value_and_partials, jit_compile=True),
    }


MODES = compiled_modes()
# The paths of a float32 or float64 computation: float32 in float64 where
# the backend has it, float32 within `float32_only` (float32 operations
# only, as LiteRT needs), float64.
PATHS = {
    "float32": ("float32", MODES, contextlib.nullcontext),
    "float32_only": ("float32", compiled_modes(), ops.float32_only),
    "float64": ("float64", MODES, contextlib.nullcontext),
}


def evaluate(dtype, beta, mode, modes=MODES):
    numpy_dtype = HALF_DTYPES.get(dtype, dtype)
    x = accuracy_grid().astype(numpy_dtype)
    beta_rounded = np.full_like(x, beta)
    results = modes[mode](tf.constant(x, dtype), tf.constant(beta_rounded, dtype))
    references = [
        mp_reference.softplus_and_partials(float(xi), float(bi))
        for xi, bi in zip(x, beta_rounded, strict=False)
    ]
    return x, [r.numpy() for r in results], references


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("beta", BETAS, ids=lambda b: f"beta={b}")
@pytest.mark.parametrize("path", list(PATHS))
def test_accuracy_within_ulp_bounds(path, beta, mode):
    dtype, modes, scope = PATHS[path]
    with scope():
        x, results, references = evaluate(dtype, beta, mode, modes)
    for index, quantity in enumerate(QUANTITIES):
        exact = [r[index] for r in references]
        errors = mp_reference.ulp_errors(results[index], exact, dtype)
        worst = int(np.argmax(errors))
        assert errors[worst] <= ULP_TOLERANCE[dtype][quantity], (
            f"{quantity}: {errors[worst]:.2f} ulp at x={x[worst]!r}"
        )


@pytest.mark.parametrize("mode", ["eager", "xla"])
@pytest.mark.parametrize("beta", BETAS, ids=lambda b: f"beta={b}")
@pytest.mark.parametrize("dtype", list(HALF_DTYPES))
def test_half_precision_within_one_ulp_of_correct_rounding(dtype, beta, mode):
    numpy_dtype = HALF_DTYPES[dtype]
    x, results, references = evaluate(dtype, beta, mode)
    tiny = float(ml_dtypes.finfo(numpy_dtype).tiny)
    mantissa_bits = ml_dtypes.finfo(numpy_dtype).nmant
    for index, quantity in enumerate(QUANTITIES):
        correctly_rounded = mp_reference.round_to(
            [r[index] for r in references], numpy_dtype
        ).astype(np.float64)
        got = results[index].astype(np.float64)
        error = np.abs(got - correctly_rounded)
        error[error < tiny] = 0.0
        magnitude = np.maximum(np.abs(correctly_rounded), tiny)
        ulp = np.exp2(np.floor(np.log2(magnitude)) - mantissa_bits)
        worst = int(np.argmax(error / ulp))
        assert error[worst] / ulp[worst] <= 1.0, (
            f"{quantity}: {error[worst] / ulp[worst]:.2f} ulp at x={x[worst]!r}"
        )


def extreme_inputs(numpy_dtype):
    values = extreme_magnitudes(numpy_dtype)
    return np.array(values + [-v for v in values]).astype(numpy_dtype)


@pytest.mark.parametrize("mode", ["eager", "xla"])
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_no_nan_and_no_inf_where_the_exact_result_is_finite(dtype, mode):
    numpy_dtype = HALF_DTYPES.get(dtype, dtype)
    x = extreme_inputs(numpy_dtype)
    info = ml_dtypes.finfo(numpy_dtype)
    for beta in [float(info.eps), *BETAS, 1e4, float(info.max)]:
        beta_rounded = np.full_like(x, beta)
        results = MODES[mode](tf.constant(x, dtype), tf.constant(beta_rounded, dtype))
        for index, result in enumerate(results):
            got = result.numpy().astype(np.float64)
            exact = np.array(
                [
                    float(mp_reference.softplus_and_partials(float(v), float(b))[index])
                    for v, b in zip(x, beta_rounded, strict=False)
                ]
            )
            representable = np.abs(exact) <= float(info.max)
            assert not np.any(np.isnan(got)), f"NaN for beta={beta}: {got}"
            assert np.all(np.isfinite(got[representable])), (
                f"{QUANTITIES[index]} overflows for beta={beta}: {got}"
            )


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_infinite_inputs_give_limits_not_nan(dtype):
    x = tf.constant([-np.inf, np.inf], dtype)
    y, grad_x, grad_beta = value_and_partials(x, tf.constant([2.0, 2.0], dtype))
    np.testing.assert_array_equal(y.numpy().astype(np.float64), [0.0, np.inf])
    np.testing.assert_array_equal(grad_x.numpy().astype(np.float64), [0.0, 1.0])
    np.testing.assert_array_equal(grad_beta.numpy().astype(np.float64), [0.0, 0.0])


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_product_is_error_free(dtype, mode):
    a, b = two_product_inputs(dtype)
    size = len(a)
    consts = constants_for(dtype)
    compute = lambda u, v: _kernel.two_product(u, v, consts)  # noqa: E731
    if mode != "eager":
        compute = tf.function(compute, jit_compile=(mode == "xla"))
    hi, lo = [t.numpy() for t in compute(tf.constant(a), tf.constant(b))]
    if dtype == "float32":
        exact = a.astype(np.float64) * b.astype(np.float64)
        np.testing.assert_array_equal(
            hi.astype(np.float64) + lo.astype(np.float64), exact
        )
    else:
        for i in range(0, size, 97):
            exact = fractions.Fraction(a[i]) * fractions.Fraction(b[i])
            assert fractions.Fraction(hi[i]) + fractions.Fraction(lo[i]) == exact


def naive_beta_gradient(x, beta):
    with tf.GradientTape() as tape:
        tape.watch(beta)
        y = tf.nn.softplus(beta * x) / beta
    return tape.gradient(y, beta)


def test_beta_gradient_survives_where_naive_autodiff_cancels():
    x = tf.constant([-40.0, 40.0, 300.0], tf.float64)
    beta = tf.constant([1.0, 1.0, 1.0], tf.float64)
    _, _, ours = value_and_partials(x, beta)
    naive = naive_beta_gradient(x, beta)
    exact = np.array(
        [float(mp_reference.softplus_and_partials(float(v), 1.0)[2]) for v in x]
    )
    np.testing.assert_allclose(ours.numpy(), exact, rtol=1e-14)
    relative_naive_error = np.abs(naive.numpy() - exact) / np.abs(exact)
    assert np.all(relative_naive_error[1:] > 1e-3)


def test_matches_builtin_softplus_at_beta_one():
    x = np.linspace(-30, 30, 601).astype(np.float32)
    np.testing.assert_allclose(
        ops.softplus(x).numpy(), tf.nn.softplus(x).numpy(), rtol=2e-6, atol=0
    )


def test_beta_gradient_is_summed_to_the_shape_of_beta():
    x = tf.constant(seeded_normal((5, 4, 3), seed=3, scale=3.0, dtype="float64"))
    beta = tf.constant([0.5, 2.0, 7.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(beta)
        y = ops.softplus(x, beta)
        loss = tf.reduce_sum(y * tf.cos(x))
    grad_beta = tape.gradient(loss, beta)
    assert grad_beta.shape == beta.shape
    expected = np.zeros(3)
    for channel in range(3):
        xs = x.numpy()[..., channel].ravel()
        expected[channel] = sum(
            float(mp_reference.softplus_and_partials(v, beta.numpy()[channel])[2])
            * np.cos(v)
            for v in xs
        )
    np.testing.assert_allclose(grad_beta.numpy(), expected, rtol=1e-12)


def test_x_gradient_is_summed_when_beta_broadcasts_x():
    x = tf.constant(0.7, tf.float64)
    beta = tf.constant([0.5, 1.0, 3.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = ops.softplus(x, beta)
    grad_x, grad_beta = tape.gradient(y, [x, beta])
    assert y.shape == (3,) and grad_x.shape == () and grad_beta.shape == (3,)
    expected = sum(1 / (1 + np.exp(-b * 0.7)) for b in [0.5, 1.0, 3.0])
    np.testing.assert_allclose(grad_x.numpy(), expected, rtol=1e-14)


FIRST_ORDER_POINTS = [
    (-30.0, 0.5),
    (-3.0, 2.0),
    (-0.1, 1.0),
    (0.0, 0.3),
    (0.4, 7.0),
    (25.0, 1.5),
]


@pytest.mark.parametrize("x0, beta0", FIRST_ORDER_POINTS, ids=lambda v: f"{v}")
def test_first_derivatives_match_float64_numerical_gradients(x0, beta0):
    x = tf.constant([x0], tf.float64)
    beta = tf.constant([beta0], tf.float64)
    theoretical, numerical = tf.test.compute_gradient(
        lambda u, b: ops.softplus(u, b), [x, beta], delta=1e-6
    )
    for t, n in zip(theoretical, numerical, strict=False):
        np.testing.assert_allclose(t, n, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("x0, beta0", FIRST_ORDER_POINTS, ids=lambda v: f"{v}")
def test_second_derivatives_match_numerical_derivatives_of_the_gradient(x0, beta0):
    hessian = tensorflow_hessians(np.array([x0]), np.array([beta0]))

    def first_derivatives(u, b):
        _, gx, gb = value_and_partials(
            tf.constant([u], tf.float64), tf.constant([b], tf.float64)
        )
        return np.array([gx.numpy()[0], gb.numpy()[0]])

    step = 1e-5
    numeric_dx = (
        first_derivatives(x0 + step, beta0) - first_derivatives(x0 - step, beta0)
    ) / (2 * step)
    numeric_dbeta = (
        first_derivatives(x0, beta0 + step) - first_derivatives(x0, beta0 - step)
    ) / (2 * step)
    analytic = hessian[:, 0].reshape(2, 2)
    numeric = np.array(
        [[numeric_dx[0], numeric_dbeta[0]], [numeric_dx[1], numeric_dbeta[1]]]
    )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-10)
    # Symmetric to rounding: the mixed derivative is autodiff of two
    # different formulas (d/dbeta of sigmoid, d/dx of d/dbeta); where it is 0
    # (x = 0) one of them leaves a rounding residue of order eps.
    np.testing.assert_allclose(analytic[0, 1], analytic[1, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "bad_x",
    [tf.constant([1, 2]), tf.constant([1 + 2j]), np.array([True])],
    ids=["int32", "complex", "bool"],
)
@pytest.mark.parametrize(
    "function", [ops.softplus, ops.softminus, ops.softplus_inverse]
)
def test_non_floating_inputs_raise_type_error(function, bad_x):
    with pytest.raises(TypeError, match="floating-point"):
        function(bad_x)


@pytest.mark.parametrize(
    "bad_beta",
    [-1, 0.0, np.array([1.0, -2.0]), float("nan")],
    ids=["negative", "zero", "array_with_negative", "nan"],
)
@pytest.mark.parametrize(
    "function", [ops.softplus, ops.softminus, ops.softplus_inverse]
)
def test_static_non_positive_beta_raises_value_error(function, bad_beta):
    with pytest.raises(ValueError, match="`beta` must be > 0. Received: beta="):
        function([1.0, 2.0], bad_beta)


def test_static_beta_check_names_received_value_and_covers_graph_constants():
    with pytest.raises(ValueError, match=r"Received: beta=-1$"):
        ops.softplus([1.0], -1)

    @tf.function
    def in_graph(x):
        return ops.softplus(x, tf.constant(-2.0))

    with pytest.raises(ValueError, match="must be > 0"):
        in_graph(tf.constant([1.0]))


def test_integer_or_complex_beta_tensor_raises_type_error():
    with pytest.raises(TypeError, match="`beta`"):
        ops.softplus([1.0], tf.constant(2))
    with pytest.raises(TypeError, match="`beta`"):
        ops.softplus([1.0], 1 + 1j)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_output_dtype_follows_input(dtype):
    x = tf.constant([0.5], dtype)
    for function in (ops.softplus, ops.softminus, ops.softplus_inverse):
        assert function(x, 2.0).dtype == dtype


def test_float32_beta_with_float16_input_keeps_beta_precision():
    x = tf.constant([3.0], tf.float16)
    beta = tf.Variable(0.3, dtype=tf.float32)
    with tf.GradientTape() as tape:
        y = ops.softplus(x, beta)
    grad = tape.gradient(y, beta)
    assert y.dtype == tf.float16 and grad.dtype == tf.float32
    expected = mp_reference.softplus_and_partials(3.0, float(np.float32(0.3)))
    np.testing.assert_allclose(grad.numpy(), float(expected[2]), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softminus_matches_mpmath_and_is_stable(dtype):
    x = accuracy_grid(400).astype(dtype)
    got = ops.softminus(tf.constant(x), 0.3).numpy()
    beta = float(np.asarray(0.3, dtype))
    # x - softplus(x) cancels even at 50 digits for large x; the identity
    # softminus(x) = -softplus(-x) is exact.
    exact = [-mp_reference.softplus_and_partials(-float(v), beta)[0] for v in x]
    errors = mp_reference.ulp_errors(got, exact, dtype)
    assert np.max(errors) <= ULP_TOLERANCE[dtype]["value"]


def test_softminus_gradient_is_sigmoid_of_minus_beta_x():
    x = tf.constant([-50.0, -1.0, 0.0, 2.0, 50.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.softminus(x, 2.0)
    np.testing.assert_allclose(
        tape.gradient(y, x).numpy(), 1 / (1 + np.exp(2.0 * x.numpy())), rtol=1e-14
    )


def test_gradient_keeps_working_in_tf_function_with_variable_beta():
    beta = tf.Variable(1.3)
    x = tf.constant(np.linspace(-5, 5, 11), tf.float32)

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ops.softplus(x, beta))
        return tape.gradient(loss, beta)

    expected = sum(
        float(mp_reference.softplus_and_partials(float(v), float(np.float32(1.3)))[2])
        for v in x.numpy()
    )
    np.testing.assert_allclose(step().numpy(), expected, rtol=1e-5)


finite_float32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
positive_beta = st.floats(
    min_value=float(np.float32(1e-3)), max_value=float(np.float32(1e3)), width=32
)


@settings(max_examples=300, deadline=None)
@given(x=finite_float32, beta=positive_beta)
def test_softplus_lies_between_relu_and_relu_plus_log2_over_beta(x, beta):
    y = float(ops.softplus(np.float32(x), np.float32(beta)))
    relu = max(x, 0.0)
    slack = 4 * np.finfo(np.float32).eps * (relu + np.log(2) / beta)
    assert relu - slack <= y <= relu + np.log(2) / beta + slack


@settings(max_examples=300, deadline=None)
@given(a=finite_float32, b=finite_float32)
def test_two_product_is_exact_for_any_normal_float32_product(a, b):
    exact = np.float64(a) * np.float64(b)
    info = np.finfo(np.float32)
    # Exactness needs every split half and partial product to stay normal
    # and finite: a factor within 2**split_bits of the max rounds up to inf
    # (the kernel then drops the correction, irrelevant for so large a |z|),
    # and in the kernel |beta*x| that small needs no correction.
    split_bits = constants_for("float32").split_bits
    assume(info.tiny / info.eps < min(abs(a), abs(b)))
    assume(max(abs(a), abs(b)) < info.max / 2**split_bits)
    assume(info.tiny / info.eps**2 < abs(exact) < info.max / 2)
    hi, lo = _kernel.two_product(
        tf.constant(a, tf.float32), tf.constant(b, tf.float32), constants_for("float32")
    )
    assert np.float64(hi.numpy()) + np.float64(lo.numpy()) == exact


# ------------------------------------------------- API, structure, robustness


def gradients(function, x, beta, **kwargs):
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = function(x, beta, **kwargs)
    return tape.gradient(y, [x, beta])


@pytest.mark.parametrize("function", [ops.softplus, ops.softminus])
def test_beta_gradient_keyword_selects_the_kernel(function):
    x = tf.constant([-2.0, 0.5, 3.0])
    beta = tf.Variable(1.3)
    grad_x, grad_beta = gradients(function, x, beta)
    assert grad_beta is not None
    grad_x_fixed, grad_beta_fixed = gradients(function, x, beta, beta_gradient=False)
    assert grad_beta_fixed is None
    np.testing.assert_array_equal(grad_x_fixed.numpy(), grad_x.numpy())


def test_validate_beta_false_skips_only_the_value_check():
    x = tf.constant([1.0, 2.0])
    with pytest.raises(ValueError, match="must be > 0"):
        ops.softplus(x, tf.constant(-1.0))
    assert np.all(np.isnan(ops.softplus(x, tf.constant(np.nan), validate_beta=False)))
    with pytest.raises(TypeError, match="`beta`"):
        ops.softplus(x, tf.constant(2), validate_beta=False)


def test_variable_beta_is_validated_like_a_tensor():
    import keras

    for bad in (-1.0, 0.0, float("nan")):
        with pytest.raises(ValueError, match="must be > 0. Received: beta="):
            ops.softplus([1.0], keras.Variable(bad))
        with pytest.raises(ValueError, match="must be > 0. Received: beta="):
            ops.softplus([1.0], tf.Variable(bad))


@pytest.mark.parametrize(
    "x_dtype, beta",
    [
        ("float32", float("inf")),
        ("float32", 1e39),
        ("float16", 1e5),
        ("float32", np.float64(1e39)),
        ("float32", "tensor_float64_1e39"),
    ],
    ids=[
        "inf",
        "overflows_float32",
        "overflows_float16",
        "numpy_float64",
        "tensor_float64",
    ],
)
def test_beta_that_is_not_finite_in_the_computation_dtype_raises(x_dtype, beta):
    if beta == "tensor_float64_1e39":
        beta = tf.constant(1e39, tf.float64)
    with pytest.raises(ValueError, match=f"finite in {x_dtype}.*Received: beta="):
        ops.softplus(tf.constant([1.0], x_dtype), beta)


@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_no_nan_gradient_where_beta_squared_underflows(mode):
    x = tf.constant([1e38, -1e38, 3.0], tf.float32)
    beta = tf.constant([1e-30, 1e-30, 1e-30], tf.float32)
    results = [r.numpy() for r in MODES[mode](x, beta)]
    for index, result in enumerate(results):
        exact = [
            float(
                mp_reference.softplus_and_partials(float(v), float(np.float32(1e-30)))[
                    index
                ]
            )
            for v in x.numpy()
        ]
        finite = np.abs(exact) < float(np.finfo(np.float32).max)
        assert not np.any(np.isnan(result)), (QUANTITIES[index], result)
        assert np.all(np.isfinite(result[finite])), (QUANTITIES[index], result)


@pytest.mark.parametrize("beta", [1.0, 1.5], ids=["beta=1", "beta=1.5"])
def test_softplus_inverse_has_finite_gradients_at_the_largest_y(beta):
    y = tf.constant([3e38], tf.float32)
    beta = tf.constant(beta)
    with tf.GradientTape() as tape:
        tape.watch([y, beta])
        x = ops.softplus_inverse(y, beta)
    for grad in tape.gradient(x, [y, beta]):
        assert np.all(np.isfinite(grad.numpy())), grad


@pytest.mark.parametrize(
    "x_shape, beta_shape",
    [((3, 4), (5,)), ((2, 3), (2,))],
    ids=["rank1_beta", "trailing"],
)
def test_incompatible_shapes_name_both_shapes(x_shape, beta_shape):
    message = re.escape(f"Received: x.shape={x_shape}, beta.shape={beta_shape}")
    with pytest.raises(ValueError, match=message):
        ops.softplus(tf.ones(x_shape), tf.ones(beta_shape))

    @tf.function(jit_compile=True)
    def compiled(x, beta):
        return ops.softplus(x, beta)

    with pytest.raises(ValueError, match=message):
        compiled(tf.ones(x_shape), tf.ones(beta_shape))


@pytest.mark.parametrize("mode", list(MODES))
def test_tiny_x_with_huge_beta_is_accurate_in_float32(mode):
    # beta*x is exact in float64, where the float32 kernel computes; the
    # float64 kernel's split halves are subnormal below |x| = tiny/eps.
    x = tf.constant([-1e-35, 1e-35, -3e-36], tf.float32)
    beta = tf.constant([1e35, 1e35, 1e36], tf.float32)
    results = [r.numpy() for r in MODES[mode](x, beta)]
    for index, quantity in enumerate(QUANTITIES):
        exact = [
            mp_reference.softplus_and_partials(float(v), float(b))[index]
            for v, b in zip(x.numpy(), beta.numpy(), strict=False)
        ]
        errors = mp_reference.ulp_errors(results[index], exact, "float32")
        assert np.max(errors) <= ULP_TOLERANCE["float32"][quantity], (quantity, errors)


def test_exported_model_gradients_work_without_the_package(tmp_path):
    import keras
    from fresh_process import run_python

    class Softplus(keras.layers.Layer):
        def build(self, input_shape):
            self.beta = self.add_weight(shape=(), initializer="ones")

        def call(self, inputs):
            return ops.softplus(inputs, self.beta)

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Softplus()(keras.layers.Dense(4)(inputs)))
    model.export(str(tmp_path / "served"), verbose=False)
    x = tf.constant(np.linspace(-2, 2, 6).reshape(2, 3), tf.float32)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = model(x)
        first = inner.gradient(y, x)
    second = outer.gradient(first, x)
    output = run_python(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        served = tf.saved_model.load({str(tmp_path / "served")!r})
        x = tf.constant(np.linspace(-2, 2, 6).reshape(2, 3), tf.float32)
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(x)
            with tf.GradientTape(persistent=True) as inner:
                inner.watch(x)
                y = served.serve(x)
            first = inner.gradient(y, x)
            again = inner.gradient(y, x)
        second = outer.gradient(first, x)
        assert "keras_softplus" not in sys.modules
        print(repr([t.numpy().tolist() for t in (first, again, second)]))
        """
    )
    served_first, served_again, served_second = eval(output)  # noqa: S307
    # Each gradient is a sum of 4 terms `kernel * sigmoid` that may cancel:
    # rounding is relative to the terms (|kernel| < 1), not to the sum.
    np.testing.assert_allclose(served_first, first.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(served_again, first.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(served_second, second.numpy(), rtol=1e-5, atol=1e-7)
