"""The verification harness of the distribution heads, stated once.

- `RANGES`: the documented supported range of each family's inputs;
- `TOLERANCES`: the accepted error of values and gradients, per dtype,
  relative to `1 + |exact|`;
- `grid(...)`: the points of each function's accuracy grid over `RANGES`
  (small by default, wide for the `slow` tests);
- `reference(...)`: the exact per-sample value and gradient in every
  parameter of each function, from mpmath at 80 digits (closed forms and
  analytic derivatives; central differences at 80 digits where no closed
  derivative is at hand).

The tests (tests/test_heads_*.py) and their backend workers import it; it
imports neither TensorFlow nor Keras, so a JAX or PyTorch worker can.
`python tests/heads_harness.py --docs-table` prints the "Range and accuracy"
table of docs/user-guide/distribution-heads.md, which a test compares with
the page.
"""

import functools
import itertools
import sys

import mpmath
import numpy as np

DTYPES = ("float32", "float64")
HALF_PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")

# Accepted |computed - exact| / (1 + |exact|), per dtype of the computation.
# The mixed precision policies compute the losses, metrics and `as_*` in
# float32, so their outputs are held to float32's tolerance, against the
# exact value at the half-precision head outputs.
TOLERANCES = {
    "float32": {"value": 3e-5, "gradient": 1e-4, "tfp_value": 1e-4},
    "float64": {"value": 1e-9, "gradient": 1e-7, "tfp_value": 1e-9},
}
# "tfp_value": `log_prob` of the `as_*` distributions, which TFP computes;
# its float32 lgamma-based log-probabilities (Poisson, Gamma at shapes of
# 1e3) are within about 5e-5 of exact, not the package's 3e-5.

# "eps": the floor of the heads' positive parameters, the eps of the dtype
# (1.19e-7 in float32, 2.22e-16 in float64).
FLOOR = "eps"

# Per family: (head, per-sample functions, {input: (low, high)}).
RANGES = {
    "normal": (
        "NormalHead",
        ("normal_nll", "normal_crps"),
        {"scale": (FLOOR, 1e6), "abs(y - loc) / scale": (0.0, 1e4)},
    ),
    "student_t": (
        "StudentTHead",
        ("student_t_nll", "student_t_crps"),
        {"scale": (FLOOR, 1e6), "abs(y - loc) / scale": (0.0, 1e4), "df": (2.0, 1e30)},
    ),
    "poisson": (
        "PoissonHead",
        ("poisson_nll", "poisson_crps"),
        {"y (counts)": (0.0, 1e7), "rate": (FLOOR, 1e8)},
    ),
    "negative_binomial": (
        "NegativeBinomialHead",
        ("negative_binomial_nll", "negative_binomial_crps"),
        {"y (counts)": (0.0, 1e7), "mean": (FLOOR, 1e8), "total_count": (1e-3, 1e20)},
    ),
    "gamma": (
        "GammaHead",
        ("gamma_nll",),
        {"y": (1e-30, 1e30), "concentration": (1e-3, 1e4), "rate": (FLOOR, 1e8)},
    ),
}

# The head's output layout, parameter by parameter (checked against
# keras_softplus.ops.parameters by the tests).
PARAMETERS = {
    "normal": ("loc", "scale"),
    "student_t": ("loc", "scale", "df"),
    "poisson": ("rate",),
    "negative_binomial": ("mean", "total_count"),
    "gamma": ("concentration", "rate"),
}

FUNCTIONS = {
    function: family
    for family, (_, functions, _) in RANGES.items()
    for function in functions
}

# The count CRPS's default number of terms. The series must be right when the
# predictive distribution fits in it (standard deviation at most
# `support_size / COVERED_STANDARD_DEVIATIONS`: mean +- 7 sd); otherwise it
# must be right or NaN, never a wrong number.
SUPPORT_SIZE = 1000
COVERED_STANDARD_DEVIATIONS = 14
COVERED_TAIL_EXPONENT = 46

# The grid points of each input. Normal and Student-t points are given as
# (loc, scale, z) with y = loc + z*scale. Every point is in RANGES; the
# bounds are always included.
GRID_POINTS = {
    "normal": {
        "loc": (0.75, -1e3),
        "scale": (FLOOR, 1e-3, 1.0, 1e6),
        "z": (0.0, 0.5, -3.0, 1e4),
    },
    "student_t": {
        "loc": (0.75,),
        "scale": (FLOOR, 1.0, 1e6),
        "z": (0.0, -2.0, 1e4),
        "df": (2.0, 5.0, 1e4, 1e30),
    },
    "poisson": {
        "y": (0.0, 1.0, 7.0, 5000.0, 1e7),
        "rate": (FLOOR, 1e-6, 1.0, 6.5, 5000.0, 1e7, 1e8),
    },
    "negative_binomial": {
        "y": (0.0, 1.0, 40.0, 1e7),
        "mean": (FLOOR, 2.5, 1e6, 1e8),
        "total_count": (1e-3, 0.1, 3.0, 1e20),
    },
    "gamma": {
        "y": (1e-30, 1e-3, 1.0, 1e30),
        "concentration": (1e-3, 1.0, 1e4),
        "rate": (FLOOR, 1.0, 1e8),
    },
}

WIDE_GRID_POINTS = {
    "normal": {
        "loc": (0.75, -1e3, 0.0),
        "scale": (FLOOR, 1e-6, 1e-3, 0.1, 1.0, 30.0, 1e3, 1e6),
        "z": (0.0, 1e-4, 0.3, -1.0, 2.5, -10.0, 100.0, -1e4),
    },
    "student_t": {
        "loc": (0.75, -1e3),
        "scale": (FLOOR, 1e-3, 1.0, 30.0, 1e6),
        "z": (0.0, 1e-4, 0.3, -2.0, 25.0, -1e4),
        "df": (2.0, 2.5, 5.0, 30.0, 1e3, 1e5, 1e12, 1e30),
    },
    "poisson": {
        "y": (0.0, 1.0, 2.0, 7.0, 30.0, 250.0, 5000.0, 1e5, 1e7),
        "rate": (FLOOR, 1e-6, 1e-3, 0.5, 1.0, 6.5, 40.0, 900.0, 5000.0, 1e5, 1e7, 1e8),
    },
    "negative_binomial": {
        "y": (0.0, 1.0, 3.0, 40.0, 900.0, 1e5, 1e7),
        "mean": (FLOOR, 1e-6, 0.3, 2.5, 60.0, 1e4, 1e6, 1e8),
        "total_count": (1e-3, 0.1, 0.7, 3.0, 50.0, 1e4, 1e20),
    },
    "gamma": {
        "y": (1e-30, 1e-21, 1e-8, 1e-3, 0.5, 1.0, 7.0, 1e8, 1e30),
        "concentration": (1e-3, 0.1, 1.0, 2.5, 60.0, 1e4),
        "rate": (FLOOR, 1e-4, 1.0, 30.0, 1e8),
    },
}


def floor(dtype):
    """The floor of the heads' positive parameters in `dtype`: its eps."""
    return float(np.finfo(dtype).eps)


def bound(value, dtype):
    """A `RANGES`/grid entry in `dtype`: `FLOOR` becomes the dtype's eps."""
    return floor(dtype) if value == FLOOR else float(value)


def grid(function, dtype, wide=False):
    """`(y, parameters)` of a function's grid: float64 arrays `(N,)` and
    `(N, n_parameters)` of values representable in `dtype`, in the order of
    the head's layout. Points without a reference are left out (see
    `NoReference`)."""
    family = FUNCTIONS[function]
    points = (WIDE_GRID_POINTS if wide else GRID_POINTS)[family]
    axes = [[bound(value, dtype) for value in values] for values in points.values()]
    rows = []
    for combination in itertools.product(*axes):
        named = dict(zip(points, combination, strict=True))
        if family in ("normal", "student_t"):
            loc, scale, z = named.pop("loc"), named.pop("scale"), named.pop("z")
            y = np.float64(np.asarray(loc + z * scale, dtype))
            parameters = (loc, scale, *named.values())
        else:
            y = named.pop("y")
            parameters = tuple(named.values())
        y, *parameters = (float(np.asarray(v, dtype)) for v in (y, *parameters))
        try:
            reference(function, y, *parameters)
        except NoReference:
            continue
        rows.append((y, *parameters))
    rows = np.array(rows, dtype="float64")
    return rows[:, 0], rows[:, 1:]


class NoReference(Exception):
    """mpmath cannot evaluate the reference at this point (left out of the
    grids)."""


def _mpf(*values):
    return [mpmath.mpf(float(value)) for value in values]


def _central_difference(function, x, relative_step="1e-25"):
    """d function / dx at 80 digits, by a central difference of relative step
    1e-25 (truncation ~1e-50, rounding ~1e-55, relative)."""
    h = abs(x) * mpmath.mpf(relative_step)
    return (function(x + h) - function(x - h)) / (2 * h)


def _normal_nll(y, loc, scale):
    y, loc, scale = _mpf(y, loc, scale)
    z = (y - loc) / scale
    value = mpmath.log(scale) + mpmath.log(2 * mpmath.pi) / 2 + z**2 / 2
    return value, (-z / scale, (1 - z**2) / scale)


def _normal_crps_standard(z):
    pdf = mpmath.npdf(z)
    return z * mpmath.erf(z / mpmath.sqrt(2)) + 2 * pdf - 1 / mpmath.sqrt(mpmath.pi)


def _normal_crps(y, loc, scale):
    y, loc, scale = _mpf(y, loc, scale)
    z = (y - loc) / scale
    d_scale = 2 * mpmath.npdf(z) - 1 / mpmath.sqrt(mpmath.pi)
    return scale * _normal_crps_standard(z), (-mpmath.erf(z / mpmath.sqrt(2)), d_scale)


def _student_t_nll(y, loc, scale, df):
    y, loc, scale, df = _mpf(y, loc, scale, df)
    z = (y - loc) / scale
    log1p_term = mpmath.log1p(z**2 / df)
    value = (
        mpmath.log(scale)
        + mpmath.log(df * mpmath.pi) / 2
        + mpmath.loggamma(df / 2)
        - mpmath.loggamma((df + 1) / 2)
        + (df + 1) / 2 * log1p_term
    )
    d_loc = -(df + 1) * z / (scale * (df + z**2))
    d_scale = 1 / scale - (df + 1) * z**2 / (scale * (df + z**2))
    d_df = (
        1 / (2 * df)
        + (mpmath.digamma(df / 2) - mpmath.digamma((df + 1) / 2)) / 2
        + log1p_term / 2
        - (df + 1) * z**2 / (2 * df * (df + z**2))
    )
    return value, (d_loc, d_scale, d_df)


# Above this df the Student-t CRPS is the Normal's to O(1/df), far below
# every tolerance.
STUDENT_T_NORMAL_LIMIT = 1e10


def _student_t_crps_parts(z, df):
    """(bracket, 2F(z) - 1, 2 f(z)(df + z**2)/(df - 1) - constant): the
    standard CRPS `bracket` of Jordan et al. (2019) and its pieces."""
    half = mpmath.mpf(1) / 2
    beta = mpmath.beta(half, df / 2)
    two_cdf_minus_one = mpmath.sign(z) * mpmath.betainc(
        half, df / 2, 0, z**2 / (df + z**2), regularized=True
    )
    density = (1 + z**2 / df) ** (-(df + 1) / 2) / (mpmath.sqrt(df) * beta)
    constant = 2 * mpmath.sqrt(df) * mpmath.beta(half, df - half) / ((df - 1) * beta**2)
    rest = 2 * density * (df + z**2) / (df - 1) - constant
    return z * two_cdf_minus_one + rest, two_cdf_minus_one, rest


def _student_t_crps(y, loc, scale, df):
    y, loc, scale, df = _mpf(y, loc, scale, df)
    z = (y - loc) / scale
    if df >= STUDENT_T_NORMAL_LIMIT:
        value, (d_loc, d_scale) = _normal_crps(y, loc, scale)
        return value, (d_loc, d_scale, mpmath.mpf(0))
    bracket, two_cdf_minus_one, rest = _student_t_crps_parts(z, df)
    d_df = scale * _central_difference(lambda nu: _student_t_crps_parts(z, nu)[0], df)
    return scale * bracket, (-two_cdf_minus_one, rest, d_df)


def _poisson_nll(y, rate):
    y, rate = _mpf(y, rate)
    value = rate - y * mpmath.log(rate) + mpmath.loggamma(y + 1)
    return value, (1 - y / rate,)


def _poisson_crps_value(y, rate):
    """Closed form: (y - l)(2F(y) - 1) + 2 l f(y) - l e^{-2l}(I0(2l) + I1(2l))."""
    cdf = mpmath.gammainc(y + 1, rate, mpmath.inf, regularized=True)
    pmf = mpmath.exp(-rate + y * mpmath.log(rate) - mpmath.loggamma(y + 1))
    bessel = mpmath.besseli(0, 2 * rate) + mpmath.besseli(1, 2 * rate)
    return (
        (y - rate) * (2 * cdf - 1)
        + 2 * rate * pmf
        - rate * mpmath.exp(-2 * rate) * bessel
    )


def _poisson_crps(y, rate):
    y, rate = _mpf(y, rate)
    value = _poisson_crps_value(y, rate)
    return value, (_central_difference(lambda r: _poisson_crps_value(y, r), rate),)


def _negative_binomial_nll(y, mean, total_count):
    y, m, r = _mpf(y, mean, total_count)
    value = (
        -mpmath.loggamma(y + r)
        + mpmath.loggamma(r)
        + mpmath.loggamma(y + 1)
        + r * mpmath.log1p(m / r)
        - y * (mpmath.log(m) - mpmath.log(r + m))
    )
    d_mean = (r + y) / (r + m) - y / m
    d_total_count = (
        mpmath.digamma(r)
        - mpmath.digamma(y + r)
        + mpmath.log1p(m / r)
        + (y - m) / (r + m)
    )
    return value, (d_mean, d_total_count)


MAX_SERIES_TERMS = 10**6


def _regularized_beta(a, b, x):
    """`I_x(a, b) = x**a (1 - x)**b / (a B(a, b)) * sum_n t_n`, with
    `t_0 = 1`, `t_{n+1} = t_n (a + b + n) x / (a + 1 + n)`: all terms
    positive, growing for about `((a + b) x - a) / (1 - x)` steps, then
    shrinking by about `x` each. Of this series and that of
    `1 - I_{1-x}(b, a)`, the shorter is summed, to 1e-85 relative."""

    def length(a, b, x):
        return max((a + b) * x - a, 0) / (1 - x) + 200 / -mpmath.log(x)

    if length(a, b, x) > length(b, a, 1 - x):
        return 1 - _regularized_beta(b, a, 1 - x)
    if length(a, b, x) > MAX_SERIES_TERMS:
        raise NoReference(f"I_x(a, b) at a={a}, b={b}, x={x}")
    log_front = (
        a * mpmath.log(x)
        + b * mpmath.log1p(-x)
        - mpmath.log(a)
        - (mpmath.loggamma(a) + mpmath.loggamma(b) - mpmath.loggamma(a + b))
    )
    total, term, n = mpmath.mpf(0), mpmath.mpf(1), 0
    growing = max((a + b) * x - a, 0) / (1 - x)
    while n <= growing or term > total * mpmath.mpf("1e-85"):
        total += term
        term *= (a + b + n) * x / (a + 1 + n)
        n += 1
    return mpmath.exp(log_front) * total


def _negative_binomial_cdf(k, r, p):
    """P(X <= k) of NB(r, p) (failures before the r-th success of
    probability p): `I_p(r, k + 1)`."""
    if k < 0:
        return mpmath.mpf(0)
    return _regularized_beta(r, k + 1, p)


def _negative_binomial_crps_value(y, m, r):
    """Closed form of Wei & Held (2014), as in scoringRules' crps_nbinom."""
    p = r / (r + m)
    first = y * (2 * _negative_binomial_cdf(y, r, p) - 1)
    try:
        hypergeometric = mpmath.hyp2f1(r + 1, mpmath.mpf(1) / 2, 2, -4 * (1 - p) / p**2)
    except (mpmath.libmp.NoConvergence, ValueError) as error:
        # mpmath's 2F1 does not converge (ValueError: not to the precision).
        raise NoReference(f"2F1 at mean={m}, total_count={r}") from error
    second = (
        (1 - p)
        * r
        / p**2
        * (p * (2 * _negative_binomial_cdf(y - 1, r + 1, p) - 1) + hypergeometric)
    )
    return first - second


# Where mean/total_count is below this, the negative binomial is the Poisson
# to well below every tolerance (variance mean*(1 + mean/total_count)).
NEGATIVE_BINOMIAL_POISSON_LIMIT = 1e-11


def _negative_binomial_crps(y, mean, total_count):
    y, m, r = _mpf(y, mean, total_count)
    if m / r < NEGATIVE_BINOMIAL_POISSON_LIMIT:
        value, (d_mean,) = _poisson_crps(y, m)
        return value, (d_mean, mpmath.mpf(0))
    value = _negative_binomial_crps_value(y, m, r)
    d_mean = _central_difference(lambda x: _negative_binomial_crps_value(y, x, r), m)
    d_total_count = _central_difference(
        lambda x: _negative_binomial_crps_value(y, m, x), r
    )
    return value, (d_mean, d_total_count)


def _gamma_nll(y, concentration, rate):
    y, a, b = _mpf(y, concentration, rate)
    value = mpmath.loggamma(a) - a * mpmath.log(b) - (a - 1) * mpmath.log(y) + b * y
    d_concentration = mpmath.digamma(a) - mpmath.log(b) - mpmath.log(y)
    return value, (d_concentration, y - a / b)


_REFERENCES = {
    "normal_nll": _normal_nll,
    "normal_crps": _normal_crps,
    "student_t_nll": _student_t_nll,
    "student_t_crps": _student_t_crps,
    "poisson_nll": _poisson_nll,
    "poisson_crps": _poisson_crps,
    "negative_binomial_nll": _negative_binomial_nll,
    "negative_binomial_crps": _negative_binomial_crps,
    "gamma_nll": _gamma_nll,
}


@functools.cache
def reference(function, y, *parameters):
    """`(value, gradients)` of a per-sample function at one point, floats.

    `gradients` holds the derivative in each parameter, in the head's
    layout order. Exact to far below every tolerance (80 digits).
    """
    with mpmath.workdps(80):
        value, gradients = _REFERENCES[function](y, *parameters)
        return float(value), tuple(float(g) for g in gradients)


def references(function, y, parameters):
    """`(values (N,), gradients (N, P))` over a grid, float64."""
    rows = [
        reference(function, float(v), *map(float, p))
        for v, p in zip(y, parameters, strict=True)
    ]
    return (
        np.array([value for value, _ in rows]),
        np.array([gradients for _, gradients in rows]),
    )


def count_series_crps(pmf, y, support_end):
    """`sum_{k < support_end} (F(k) - 1{y <= k})**2 + max(y - support_end, 0)`
    in mpmath, for `pmf(k)`: the definition, to check the closed forms."""
    total, cdf = mpmath.mpf(0), mpmath.mpf(0)
    for k in range(support_end):
        cdf += pmf(k)
        total += (cdf - (1 if y <= k else 0)) ** 2
    return total + max(y - support_end, 0)


def count_standard_deviation(function, parameters):
    """The predictive standard deviation of a count head's output row."""
    if FUNCTIONS[function] == "poisson":
        (rate,) = parameters
        return float(np.sqrt(rate))
    mean, total_count = parameters
    return float(np.sqrt(mean + mean * (mean / total_count)))


def count_support_covers(function, parameters, support_size=SUPPORT_SIZE):
    """Whether `support_size` terms cover the predictive distribution."""
    spread = COVERED_STANDARD_DEVIATIONS * count_standard_deviation(
        function, parameters
    )
    if FUNCTIONS[function] == "negative_binomial":
        # Its tail decays as (1 - p)**k, p = r/(r + m): below e**-46 (1e-20)
        # at the end of the support.
        mean, total_count = parameters
        decay = total_count / (total_count + mean)
        if (support_size - mean) * decay <= COVERED_TAIL_EXPONENT:
            return False
    return spread + 1 <= support_size


def relative_errors(got, exact):
    """`|got - exact| / (1 + |exact|)`, elementwise; NaN/inf where `got` is."""
    got, exact = np.asarray(got, "float64"), np.asarray(exact, "float64")
    return np.abs(got - exact) / (1.0 + np.abs(exact))


def assert_close(got, exact, dtype, quantity, labels=None):
    """Fails unless every `got` is within `TOLERANCES[dtype][quantity]` of
    `exact`, relative to `1 + |exact|`; the message names the worst points
    and the largest error."""
    errors = relative_errors(got, exact)
    tolerance = TOLERANCES[dtype][quantity]
    failing = ~(errors <= tolerance)  # NaN fails
    if np.any(failing):
        got_flat, exact_flat = np.ravel(got), np.ravel(exact)
        index = np.flatnonzero(np.ravel(failing))
        worst = index[np.argsort(-np.nan_to_num(np.ravel(errors)[index], nan=np.inf))][
            :5
        ]
        lines = [
            f"  {labels[i] if labels is not None else i}: got {got_flat[i]!r}, "
            f"exact {exact_flat[i]!r}, error {np.ravel(errors)[i]:.3g}"
            for i in worst
        ]
        raise AssertionError(
            f"{quantity} ({dtype}): {index.size} of {errors.size} points beyond "
            f"{tolerance:g} x (1 + |exact|), max error "
            f"{np.nanmax(np.where(failing, errors, 0)):.3g}"
            f"{' (NaN)' if np.any(np.isnan(errors)) else ''}:\n" + "\n".join(lines)
        )


def point_labels(function, y, parameters):
    """Readable names of grid points, for failure messages."""
    names = PARAMETERS[FUNCTIONS[function]]
    return [
        f"y={v:.4g}, "
        + ", ".join(f"{n}={p:.4g}" for n, p in zip(names, row, strict=True))
        for v, row in zip(y, parameters, strict=True)
    ]


def _format_bound(value):
    """`eps`, `0`, `2`, `1e-3`, `1e30`: powers of ten as `1eN`."""
    if value == FLOOR:
        return "eps"
    exponent = np.log10(value) if value > 0 else None
    if exponent is not None and exponent == round(exponent) and abs(exponent) >= 3:
        return f"1e{int(round(exponent))}"
    return f"{value:g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def docs_table():
    """The "Range and accuracy" tables of docs/user-guide/distribution-heads.md."""
    lines = [
        "| head | functions | range tested |",
        "|---|---|---|",
    ]
    for head, functions, inputs in RANGES.values():
        ranges = "; ".join(
            f"{name} from {_format_bound(low)} to {_format_bound(high)}"
            for name, (low, high) in inputs.items()
        )
        names = ", ".join(f"`{function}`" for function in functions)
        lines.append(f"| `{head}` | {names} | {ranges} |")
    lines += [
        "",
        "| dtype | values | gradients |",
        "|---|---|---|",
    ]
    for dtype, tolerance in TOLERANCES.items():
        lines.append(
            f"| {dtype} | {_format_bound(tolerance['value'])} x (1 + abs(exact)) "
            f"| {_format_bound(tolerance['gradient'])} x (1 + abs(exact)) |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--docs-table"]:
        sys.stdout.write(docs_table())
    else:
        sys.exit("usage: python tests/heads_harness.py --docs-table")
