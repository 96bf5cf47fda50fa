"""Every per-sample function of the heads, and its gradient in every
parameter, against the 80-digit references of tests/heads_harness.py, over
grids spanning the documented ranges, in float32 and float64 (TensorFlow).
The count CRPS must be right where its support covers the predictive
distribution, and right or NaN elsewhere, never a wrong number."""

import os

import heads_harness
import mpmath
import numpy as np
import pytest
import tensorflow as tf
from heads_harness import DTYPES
from heads_harness import FUNCTIONS

import keras_softplus.ops.gamma
import keras_softplus.ops.negative_binomial
import keras_softplus.ops.normal
import keras_softplus.ops.parameters
import keras_softplus.ops.poisson
import keras_softplus.ops.student_t

DOCS_PAGE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "docs",
    "user-guide",
    "distribution-heads.md",
)
MODULES = {
    "normal": keras_softplus.ops.normal,
    "student_t": keras_softplus.ops.student_t,
    "poisson": keras_softplus.ops.poisson,
    "negative_binomial": keras_softplus.ops.negative_binomial,
    "gamma": keras_softplus.ops.gamma,
}


def ops_function(function):
    return getattr(MODULES[FUNCTIONS[function]], function)


def evaluate(function, y, parameters, dtype, mode="eager", **kwargs):
    """`(values (N,), gradients (N, P))` of an ops function on TensorFlow,
    the gradient of the sum of the values in every head output entry."""
    fn = ops_function(function)
    y_true = tf.constant(np.asarray(y)[:, None], dtype)
    y_pred = tf.constant(np.asarray(parameters), dtype)

    def values_and_gradients(y_true, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            values = fn(y_true, y_pred, **kwargs)
        return values, tape.gradient(values, y_pred)

    if mode == "function":
        values_and_gradients = tf.function(values_and_gradients)
    values, gradients = values_and_gradients(y_true, y_pred)
    return values.numpy().astype("float64"), gradients.numpy().astype("float64")


def is_count_crps(function):
    return function in ("poisson_crps", "negative_binomial_crps")


def check_grid(function, dtype, wide=False):
    y, parameters = heads_harness.grid(function, dtype, wide=wide)
    exact_values, exact_gradients = heads_harness.references(function, y, parameters)
    values, gradients = evaluate(function, y, parameters, dtype)
    labels = heads_harness.point_labels(function, y, parameters)
    keep = np.ones(len(y), bool)
    if is_count_crps(function):
        covered = np.array(
            [heads_harness.count_support_covers(function, row) for row in parameters]
        )
        # Outside the support: right or NaN, never a wrong number.
        keep = covered | ~np.isnan(values)
    heads_harness.assert_close(
        values[keep], exact_values[keep], dtype, "value", np.array(labels)[keep]
    )
    # Gradients per parameter, flattened: (N*P,).
    names = heads_harness.PARAMETERS[FUNCTIONS[function]]
    gradient_labels = np.array(
        [f"d/d{name} at {label}" for label in labels for name in names]
    )
    keep_gradients = np.repeat(keep & ~np.isnan(values), len(names))
    heads_harness.assert_close(
        gradients.ravel()[keep_gradients],
        exact_gradients.ravel()[keep_gradients],
        dtype,
        "gradient",
        gradient_labels[keep_gradients],
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_function_and_gradients_match_the_reference_on_the_grid(function, dtype):
    check_grid(function, dtype)


# Known float32 limits the wide grids find, each measured; strict, so a fix
# shows up. The first two are conditioning: the exact gradient is a
# difference of two terms much larger than it, which the rounding of the
# float32 inputs alone moves.
FLOAT32_GRADIENT_LIMITS = {
    "normal_nll": "d/dscale = (1 - z**2)/scale at |z| near 1 and scale near "
    "eps: two terms of 8e6 (got -0.5 for 0)",
    "gamma_nll": "d/drate = y - concentration/rate at y = 1e8 = "
    "concentration/rate: two terms of 1e8 (got 0 for -2.53)",
    "student_t_crps": "d/ddf of the closed form at df = 1e3, |z| = 2: its "
    "beta functions' df derivatives cancel (0.3014 for 0.3045)",
    "negative_binomial_crps": "d/dtotal_count for a long right tail (mean 60, "
    "total count 0.7) whose window misses up to 6e-6 of the mass: value "
    "within 3e-5, gradient within 5e-3",
}


def with_known_limits(functions, limited):
    """(function, dtype) cases, the float32 ones in `limited` marked as
    known failures with their reason."""
    return [
        pytest.param(
            function,
            dtype,
            marks=pytest.mark.xfail(
                strict=True, reason=FLOAT32_GRADIENT_LIMITS[function]
            )
            if dtype == "float32" and function in limited
            else (),
            id=f"{function}-{dtype}",
        )
        for function in functions
        for dtype in DTYPES
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "function, dtype", with_known_limits(FUNCTIONS, FLOAT32_GRADIENT_LIMITS)
)
def test_function_and_gradients_match_the_reference_on_the_wide_grid(function, dtype):
    check_grid(function, dtype, wide=True)


def _log_uniform(draw, low, high):
    from hypothesis import strategies

    exponent = draw(strategies.floats(np.log10(low), np.log10(high)))
    return float(10.0**exponent)


@pytest.mark.slow
@pytest.mark.parametrize(
    "function, dtype", with_known_limits(FUNCTIONS, ["negative_binomial_crps"])
)
def test_function_matches_the_reference_between_the_grid_points(function, dtype):
    from hypothesis import assume
    from hypothesis import given
    from hypothesis import settings
    from hypothesis import strategies

    family = FUNCTIONS[function]
    _, _, ranges = heads_harness.RANGES[family]
    eps = heads_harness.floor(dtype)

    def low_high(name):
        low, high = ranges[name]
        return heads_harness.bound(low, dtype), float(high)

    @strategies.composite
    def points(draw):
        if family in ("normal", "student_t"):
            scale = _log_uniform(draw, *low_high("scale"))
            z = draw(strategies.sampled_from([-1.0, 1.0])) * _log_uniform(
                draw, 1e-6, 1e4
            )
            loc = draw(strategies.floats(-1e3, 1e3))
            parameters = [loc, scale]
            if family == "student_t":
                parameters.append(_log_uniform(draw, *low_high("df")))
            return loc + z * scale, parameters
        if family == "gamma":
            return _log_uniform(draw, *low_high("y")), [
                _log_uniform(draw, *low_high("concentration")),
                _log_uniform(draw, *low_high("rate")),
            ]
        y = float(np.round(_log_uniform(draw, 1.0, 1e7))) - 1.0
        if family == "poisson":
            return y, [_log_uniform(draw, max(eps, 1e-30), 1e8)]
        return y, [
            _log_uniform(draw, *low_high("mean")),
            _log_uniform(draw, *low_high("total_count")),
        ]

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(points())
    def check(point):
        y, parameters = point
        y, *parameters = (float(np.asarray(v, dtype)) for v in (y, *parameters))
        try:
            exact, exact_gradients = heads_harness.reference(function, y, *parameters)
        except heads_harness.NoReference:
            assume(False)
        values, gradients = evaluate(function, [y], [parameters], dtype)
        if is_count_crps(function) and np.isnan(values[0]):
            assert not heads_harness.count_support_covers(function, parameters)
            return
        label = heads_harness.point_labels(function, [y], [parameters])
        heads_harness.assert_close(values, [exact], dtype, "value", label)
        heads_harness.assert_close(
            gradients[0], exact_gradients, dtype, "gradient", label * len(parameters)
        )

    check()


# The issue's cases, each a point with its dtype and, where it was wrong,
# the figure quoted in the issue (checked against the reference too).
ISSUE_CASES = [
    pytest.param(
        "negative_binomial_nll",
        1.0,
        (1e8, 0.1),
        "float32",
        4.375,
        id="nb_nll_mean_1e8_total_count_0.1_float32",
    ),
    pytest.param(
        "negative_binomial_nll",
        1.0,
        (1e6, 0.1),
        "float32",
        None,
        id="nb_nll_mean_1e6_total_count_0.1_float32",
    ),
    pytest.param(
        "negative_binomial_nll",
        3.0,
        (1e8, 2.0),
        "float32",
        None,
        id="nb_nll_mean_1e8_total_count_2_float32",
    ),
    pytest.param(
        "poisson_crps",
        5000.0,
        (5000.0,),
        "float32",
        16.52,
        id="poisson_crps_rate_5000_float32",
    ),
    pytest.param(
        "poisson_crps",
        5000.0,
        (5000.0,),
        "float64",
        16.52,
        id="poisson_crps_rate_5000_float64",
    ),
    pytest.param(
        "gamma_nll",
        1e-21,
        (1.0, 1.0),
        "float32",
        None,
        id="gamma_nll_y_rate_1e-21_float32",
    ),
    pytest.param(
        "gamma_nll",
        1e-21,
        (3.0, 0.05),
        "float32",
        None,
        id="gamma_nll_y_rate_5e-23_float32",
    ),
    pytest.param(
        "poisson_nll",
        0.0,
        (1e-25,),
        "float64",
        None,
        id="poisson_nll_rate_1e-25_y_0_float64",
    ),
    pytest.param(
        "poisson_nll",
        1.0,
        (1e-25,),
        "float64",
        None,
        id="poisson_nll_rate_1e-25_y_1_float64",
    ),
    pytest.param(
        "normal_crps",
        0.0,
        (0.0, 1e-30),
        "float64",
        None,
        id="normal_crps_scale_1e-30_float64",
    ),
    pytest.param(
        "normal_crps",
        2e-30,
        (0.0, 1e-30),
        "float64",
        None,
        id="normal_crps_scale_1e-30_z_2_float64",
    ),
]


@pytest.mark.parametrize(
    ("function", "y", "parameters", "dtype", "quoted"), ISSUE_CASES
)
@pytest.mark.parametrize("mode", ["eager", "function"])
def test_issue_cases_are_right_with_finite_gradients(
    function, y, parameters, dtype, quoted, mode
):
    exact, exact_gradients = heads_harness.reference(function, y, *parameters)
    if quoted is not None:
        assert round(exact, 2) == pytest.approx(quoted, abs=0.01)
    values, gradients = evaluate(function, [y], [parameters], dtype, mode=mode)
    heads_harness.assert_close(values, [exact], dtype, "value")
    assert np.all(np.isfinite(gradients)), gradients
    heads_harness.assert_close(gradients[0], exact_gradients, dtype, "gradient")


@pytest.mark.parametrize(
    ("function", "parameters"),
    [
        pytest.param("poisson_crps", (5000.0,), id="poisson_rate_5000"),
        pytest.param("poisson_crps", (1e7,), id="poisson_rate_1e7"),
        pytest.param("negative_binomial_crps", (1e6, 0.1), id="nb_mean_1e6"),
        pytest.param("negative_binomial_crps", (2.5, 1e-3), id="nb_total_count_1e-3"),
    ],
)
@pytest.mark.parametrize("support_size", [10, 1000])
def test_count_crps_is_right_or_nan_for_every_support_size(
    function, parameters, support_size
):
    """Never a wrong number: `support_size` either covers the distribution
    or the result is NaN (issue: 4000 against 16.5 at rate 5000)."""
    for y in (
        0.0,
        float(np.round(parameters[0])),
        float(np.round(3 * parameters[0] + 7)),
    ):
        exact, _ = heads_harness.reference(function, y, *parameters)
        values, _ = evaluate(
            function, [y], [parameters], "float64", support_size=support_size
        )
        if heads_harness.count_support_covers(function, parameters, support_size):
            heads_harness.assert_close(values, [exact], "float64", "value")
        elif not np.isnan(values[0]):
            heads_harness.assert_close(values, [exact], "float64", "value")


COUNT_FUNCTIONS = [
    pytest.param("poisson_nll", (3.0,), id="poisson_nll"),
    pytest.param("poisson_crps", (3.0,), id="poisson_crps"),
    pytest.param("negative_binomial_nll", (3.0, 2.0), id="nb_nll"),
    pytest.param("negative_binomial_crps", (3.0, 2.0), id="nb_crps"),
]


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(np.inf, id="inf"),
        pytest.param(-np.inf, id="minus_inf"),
        pytest.param(-1.0, id="negative"),
        pytest.param(np.nan, id="nan"),
    ],
)
@pytest.mark.parametrize(("function", "parameters"), COUNT_FUNCTIONS)
def test_counts_outside_the_support_raise_eagerly_and_are_nan_in_graph(
    function, parameters, target
):
    """One support check for eager and graph code, +inf included."""
    assert_rejected_eagerly_and_nan_in_graph(ops_function(function), target, parameters)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(1e-38, id="subnormal"),
        pytest.param(0.0, id="zero"),
        pytest.param(-1.0, id="negative"),
        pytest.param(np.inf, id="inf"),
    ],
)
def test_gamma_targets_outside_the_range_raise_eagerly_and_are_nan_in_graph(target):
    """A subnormal float32 target (1e-38) is rejected in both modes alike."""
    assert_rejected_eagerly_and_nan_in_graph(
        keras_softplus.ops.gamma.gamma_nll, target, [2.0, 1.0]
    )


def assert_rejected_eagerly_and_nan_in_graph(fn, target, parameters):
    """`target` beside a valid 2.0: a ValueError eagerly; in a graph, NaN for
    it and a finite value for the valid one."""
    y_true = np.array([[target], [2.0]], "float32")
    y_pred = np.array([parameters, parameters], "float32")
    with pytest.raises(ValueError, match="`y_true` must be"):
        fn(y_true, y_pred)
    values = tf.function(fn)(tf.constant(y_true), tf.constant(y_pred)).numpy()
    assert np.isnan(values[0]), values
    assert np.isfinite(values[1]), values


@pytest.mark.parametrize(
    ("function", "y", "parameters"),
    [
        pytest.param("poisson_crps", 2.0, (2.0,), id="poisson_rate_2_y_2"),
        pytest.param("poisson_crps", 0.0, (6.5,), id="poisson_rate_6.5_y_0"),
        pytest.param(
            "negative_binomial_crps", 40.0, (2.5, 0.1), id="nb_mean_2.5_r_0.1_y_40"
        ),
        pytest.param("negative_binomial_crps", 1.0, (2.0, 1.0), id="nb_mean_2_r_1_y_1"),
    ],
)
def test_count_crps_closed_forms_equal_the_series(function, y, parameters):
    """The closed-form references equal the CRPS's definition, summed in
    mpmath over enough terms."""
    with mpmath.workdps(50):
        if function == "poisson_crps":
            (rate,) = map(mpmath.mpf, parameters)

            def pmf(k):
                return mpmath.exp(-rate + k * mpmath.log(rate) - mpmath.loggamma(k + 1))

        else:
            mean, r = map(mpmath.mpf, parameters)
            p = r / (r + mean)

            def pmf(k):
                return mpmath.exp(
                    mpmath.loggamma(k + r)
                    - mpmath.loggamma(r)
                    - mpmath.loggamma(k + 1)
                    + r * mpmath.log(p)
                    + k * mpmath.log1p(-p)
                )

        series = heads_harness.count_series_crps(pmf, y, 1500)
    exact, _ = heads_harness.reference(function, y, *parameters)
    assert abs(float(series) - exact) < 1e-12 * (1 + abs(exact))


def test_parameter_layouts_match_the_ops_declaration():
    layouts = {
        "normal": keras_softplus.ops.parameters.NORMAL_PARAMETERS,
        "student_t": keras_softplus.ops.parameters.STUDENT_T_PARAMETERS,
        "poisson": keras_softplus.ops.parameters.POISSON_PARAMETERS,
        "negative_binomial": keras_softplus.ops.parameters.NEGATIVE_BINOMIAL_PARAMETERS,
        "gamma": keras_softplus.ops.parameters.GAMMA_PARAMETERS,
    }
    for family, layout in layouts.items():
        assert heads_harness.PARAMETERS[family] == tuple(p.name for p in layout)


def test_every_public_per_sample_function_is_in_the_harness():
    public = {
        name
        for module in MODULES.values()
        for name, member in vars(module).items()
        if callable(member)
        and not name.startswith("_")
        and name.endswith(("_nll", "_crps"))
        and getattr(member, "__module__", None) == module.__name__
    }
    assert public == set(FUNCTIONS)


def test_docs_state_the_ranges_and_tolerances_of_the_harness():
    """The "Range and accuracy" section of the heads page is the table that
    `python tests/heads_harness.py --docs-table` renders."""
    with open(DOCS_PAGE) as handle:
        page = handle.read()
    assert heads_harness.docs_table() in page, (
        "docs/user-guide/distribution-heads.md is stale: paste the output of "
        "`python tests/heads_harness.py --docs-table`"
    )
