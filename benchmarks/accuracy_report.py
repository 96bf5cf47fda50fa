"""Max ulp error of beta-softplus and its gradients against 50-digit mpmath.

For each dtype (float16, bfloat16, float32, float64) and beta in
{0.05, 0.3, 1, 7, 50}, over x in +-[1e-6, 3e3] (log-spaced, 1500 points per
sign) plus 0, rounded to the dtype; beta is rounded to the dtype too and the
reference uses the rounded inputs. Methods:

  ours     keras_softplus.ops.softplus(x, beta): value, d/dx, d/dbeta.
  naive    tf.nn.softplus(beta*x)/beta in the dtype itself, autodiff: value,
           d/dx, d/dbeta.
  builtin  tf.nn.softplus(B*x)/B with B a Python constant (beta fixed):
           value and d/dx only.

float32/float64 errors are in ulps of the exact value (`tests/mpmath_reference.py.
ulp_errors`: absolute errors below the smallest normal count as 0). float16
and bfloat16 errors are in ulps of the correctly rounded result, measured
from it (0 means correctly rounded). A NaN or infinity where the exact
result is finite counts as an infinite error. Modes: eager (main table),
tf.function and jit (XLA), maxima only.

Also: the error of PyTorch's threshold rule (softplus(x) = x where
beta*x > 20, and gradient 1 there), evaluated with NumPy in float64 from the
formula, over beta*x in [10, 40], against mpmath.

Outputs: results/accuracy.json (maxima and locations), results/accuracy.md
(tables), results/accuracy_errors.npz (per-x errors, eager; format in
`NPZ_FORMAT`).

Usage: python benchmarks/accuracy_report.py [--quick]
"""

import argparse
import os
import sys

import _common
import make_summary
import ml_dtypes
import mpmath
import mpmath_reference as mp_reference
import numpy as np
import tensorflow as tf
from _common import format_ulp
from input_grids import BETAS

from keras_softplus import ops

DTYPES = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
}
HALF = ("float16", "bfloat16")
QUANTITIES = ("value", "dx", "dbeta")
METHOD_QUANTITIES = {
    "ours": QUANTITIES,
    "naive": QUANTITIES,
    "builtin": ("value", "dx"),
}
TORCH_THRESHOLD = 20.0
NPZ_FORMAT = (
    "numpy .npz (np.load). Key 'x__<dtype>': the x grid rounded to <dtype>, "
    "as float64 (3001 points: 1500 negative, 0, 1500 positive, ascending). "
    "Key 'ulp__<dtype>__beta=<beta>__<method>__<quantity>': float32 array of "
    "the same length, the error at each x in ulps (definition as in "
    "accuracy.json 'ulp_definition'; inf marks a NaN/inf where the exact "
    "result is finite; finite errors above 3.4e38 are clipped to float32 "
    "max, see accuracy.json for the exact maxima), eager mode. <beta> is "
    "written as in BETAS "
    "(0.05, 0.3, 1.0, 7.0, 50.0), <method> in ours/naive/builtin, "
    "<quantity> in value/dx/dbeta (no dbeta for builtin). Key "
    "'torch__beta=<beta>__z', '...__value_abs', '...__value_rel', "
    "'...__dx_abs': the PyTorch threshold-rule grid (beta*x) and its float64 "
    "absolute/relative errors."
)


def accuracy_grid(points_per_sign):
    magnitudes = np.logspace(-6, np.log10(3e3), points_per_sign)
    return np.concatenate([-magnitudes[::-1], [0.0], magnitudes])


def ours(x, beta, fixed_beta):
    del fixed_beta
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = ops.softplus(x, beta)
    return (y, *tape.gradient(y, [x, beta]))


def naive(x, beta, fixed_beta):
    del fixed_beta
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = tf.nn.softplus(beta * x) / beta
    return (y, *tape.gradient(y, [x, beta]))


def make_builtin(fixed_beta):
    def builtin(x, beta):
        del beta
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.softplus(fixed_beta * x) / fixed_beta
        return y, tape.gradient(y, x)

    return builtin


# ours and naive take beta as a tensor, so one trace per dtype serves every beta.
GRAPH_METHODS = {
    "eager": {"ours": ours, "naive": naive},
    "tf_function": {"ours": tf.function(ours), "naive": tf.function(naive)},
    "jit": {
        "ours": tf.function(ours, jit_compile=True),
        "naive": tf.function(naive, jit_compile=True),
    },
}


def half_ulp_errors(got, exact, numpy_dtype):
    """Error in ulps of the correctly rounded result (as tests/test_ops.py)."""
    correctly_rounded = mp_reference.round_to(exact, numpy_dtype).astype(np.float64)
    got = np.asarray(got).astype(np.float64)
    info = ml_dtypes.finfo(numpy_dtype)
    tiny = float(info.tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(got - correctly_rounded)
        error[error < tiny] = 0.0
        magnitude = np.maximum(np.abs(correctly_rounded), tiny)
        ulp = np.exp2(np.floor(np.log2(magnitude)) - info.nmant)
        errors = error / ulp
    same_infinity = np.isinf(got) & (got == correctly_rounded)
    errors[same_infinity] = 0.0
    return errors


def ulp_errors(got, exact, dtype):
    got = np.asarray(got)
    if dtype in HALF:
        errors = half_ulp_errors(got, exact, DTYPES[dtype])
    else:
        errors = mp_reference.ulp_errors(got, exact, DTYPES[dtype])
    exact_finite = np.array([mpmath.isfinite(e) for e in exact])
    bad = ~np.isfinite(got.astype(np.float64)) & exact_finite
    errors = np.where(np.isnan(errors) | bad, np.inf, errors)
    return errors


def _as_float32(errors):
    """float32 copy; finite errors beyond float32's range are clipped to its
    max, so that inf keeps meaning a non-finite result."""
    finite_max = float(np.finfo(np.float32).max)
    return np.where(np.isinf(errors), np.inf, np.minimum(errors, finite_max)).astype(
        np.float32
    )


def summarize_errors(errors, x):
    worst = int(np.argmax(errors))
    return {
        "max_ulp": float(errors[worst]),
        "x_at_max": float(x[worst]),
        "median_ulp": float(np.median(errors)),
        "p99_ulp": float(np.sort(errors)[int(0.99 * (len(errors) - 1))]),
        "non_finite": int(np.sum(np.isinf(errors))),
    }


def evaluate_grid(points_per_sign):
    grid = accuracy_grid(points_per_sign)
    summary = {}
    arrays = {}
    for dtype, numpy_dtype in DTYPES.items():
        x = grid.astype(numpy_dtype)
        arrays[f"x__{dtype}"] = x.astype(np.float64)
        for beta in BETAS:
            beta_rounded = numpy_dtype(beta)
            beta_float = float(beta_rounded)
            references = [
                mp_reference.softplus_and_partials(float(xi), beta_float) for xi in x
            ]
            exact = {q: [r[i] for r in references] for i, q in enumerate(QUANTITIES)}
            x_tensor = tf.constant(x, dtype)
            beta_tensor = tf.constant(np.full_like(x, beta_rounded), dtype)
            functions = {
                "eager": dict(GRAPH_METHODS["eager"], builtin=make_builtin(beta_float)),
                "tf_function": dict(
                    GRAPH_METHODS["tf_function"],
                    builtin=tf.function(make_builtin(beta_float)),
                ),
                "jit": dict(
                    GRAPH_METHODS["jit"],
                    builtin=tf.function(make_builtin(beta_float), jit_compile=True),
                ),
            }
            for mode, by_method in functions.items():
                for method, function in by_method.items():
                    if method == "builtin":
                        outputs = function(x_tensor, beta_tensor)
                    else:
                        outputs = function(x_tensor, beta_tensor, None)
                    for quantity, output in zip(
                        METHOD_QUANTITIES[method], outputs, strict=False
                    ):
                        errors = ulp_errors(output.numpy(), exact[quantity], dtype)
                        key = (mode, dtype, str(beta), method, quantity)
                        summary[key] = summarize_errors(errors, x)
                        if mode == "eager":
                            arrays[
                                f"ulp__{dtype}__beta={beta}__{method}__{quantity}"
                            ] = _as_float32(errors)
            ours_max = [
                summary[("eager", dtype, str(beta), "ours", q)]["max_ulp"]
                for q in QUANTITIES
            ]
            print(f"  {dtype:<8} beta={beta:<5} ours max ulp {ours_max}", flush=True)
    return summary, arrays


def torch_threshold_errors(points):
    """PyTorch's rule: value x and gradient 1 where beta*x > threshold."""
    results = {}
    arrays = {}
    for beta in BETAS:
        z_grid = np.linspace(10.0, 40.0, points)
        x = z_grid / beta
        z = beta * x
        with np.errstate(over="ignore"):
            e = np.exp(z)
            value = np.where(z > TORCH_THRESHOLD, x, np.log1p(e) / beta)
            dx = np.where(z > TORCH_THRESHOLD, 1.0, e / (e + 1.0))
        references = [mp_reference.softplus_and_partials(float(v), beta) for v in x]
        exact_value = np.array([float(r[0]) for r in references])
        exact_dx = np.array([float(r[1]) for r in references])
        # Absolute errors from mpmath differences, exact before rounding.
        value_abs = np.array(
            [
                float(abs(mpmath.mpf(float(v)) - r[0]))
                for v, r in zip(value, references, strict=False)
            ]
        )
        dx_abs = np.array(
            [
                float(abs(mpmath.mpf(float(d)) - r[1]))
                for d, r in zip(dx, references, strict=False)
            ]
        )
        value_rel = value_abs / np.abs(exact_value)
        dx_rel = dx_abs / np.abs(exact_dx)
        value_ulp = mp_reference.ulp_errors(
            value, [r[0] for r in references], np.float64
        )
        dx_ulp = mp_reference.ulp_errors(dx, [r[1] for r in references], np.float64)
        # Ours on the same grid, float64, eager.
        ours_out = ours(tf.constant(x), tf.constant(np.full_like(x, beta)), None)
        ours_value_ulp = mp_reference.ulp_errors(
            ours_out[0].numpy(), [r[0] for r in references], np.float64
        )
        ours_dx_ulp = mp_reference.ulp_errors(
            ours_out[1].numpy(), [r[1] for r in references], np.float64
        )
        worst = int(np.argmax(value_abs))
        results[str(beta)] = {
            "beta_x_range": [10.0, 40.0],
            "points": points,
            "value_max_abs": float(value_abs.max()),
            "value_max_abs_at_x": float(x[worst]),
            "value_max_rel": float(value_rel.max()),
            "value_max_ulp": float(value_ulp.max()),
            "dx_max_abs": float(dx_abs.max()),
            "dx_max_rel": float(dx_rel.max()),
            "dx_max_ulp": float(dx_ulp.max()),
            "below_threshold_value_max_ulp": float(
                value_ulp[z <= TORCH_THRESHOLD].max()
            ),
            "ours_value_max_ulp": float(ours_value_ulp.max()),
            "ours_dx_max_ulp": float(ours_dx_ulp.max()),
        }
        prefix = f"torch__beta={beta}__"
        arrays[prefix + "z"] = z.astype(np.float64)
        arrays[prefix + "value_abs"] = value_abs
        arrays[prefix + "value_rel"] = value_rel
        arrays[prefix + "dx_abs"] = dx_abs
    # The quoted point: beta = 1, x = 20.1.
    reference = mp_reference.softplus_and_partials(20.1, 1.0)
    at_20_1 = {
        "x": 20.1,
        "beta": 1.0,
        "value_abs_error": float(abs(mpmath.mpf(20.1) - reference[0])),
        "value_rel_error": float(abs(mpmath.mpf(20.1) - reference[0]) / reference[0]),
        "dx_abs_error": float(abs(1 - reference[1])),
    }
    return results, at_20_1, arrays


def headline(summary, mode="eager"):
    """Max over betas, per dtype, method and quantity."""
    table = {}
    for (m, dtype, _beta, method, quantity), stats in summary.items():
        if m != mode:
            continue
        key = (dtype, method, quantity)
        table[key] = max(table.get(key, 0.0), stats["max_ulp"])
    return table


def markdown(summary, torch_results, at_20_1, quick):
    lines = []
    cols = (
        [("ours", q) for q in QUANTITIES]
        + [("naive", q) for q in QUANTITIES]
        + [("builtin", q) for q in ("value", "dx")]
    )
    header = ["dtype"] + [f"{m} {q}" for m, q in cols]
    lines.append(
        "Max ulp error over all five betas, per dtype (eager; float16/"
        "bfloat16 in ulps from the correctly rounded result):\n"
    )
    rows = []
    for mode in ("eager", "jit"):
        table = headline(summary, mode)
        for dtype in DTYPES:
            rows.append(
                [f"{dtype}" + ("" if mode == "eager" else " (jit)")]
                + [format_ulp(table[(dtype, m, q)]) for m, q in cols]
            )
    lines.append(_common.markdown_table(header, rows))
    lines.append("")
    lines.append("Per dtype and beta (eager):\n")
    rows = []
    for dtype in DTYPES:
        for beta in BETAS:
            rows.append(
                [dtype, str(beta)]
                + [
                    format_ulp(summary[("eager", dtype, str(beta), m, q)]["max_ulp"])
                    for m, q in cols
                ]
            )
    lines.append(_common.markdown_table(["dtype", "beta"] + header[1:], rows))
    lines.append("")
    lines.append(
        f"PyTorch threshold rule (softplus(x) = x and gradient 1 where "
        f"beta*x > {TORCH_THRESHOLD:g}), float64, over beta*x in [10, 40]; at "
        f"beta = 1, x = 20.1 the value is off by {at_20_1['value_abs_error']:.2e} "
        f"(relative {at_20_1['value_rel_error']:.1e}) and the gradient by "
        f"{at_20_1['dx_abs_error']:.2e}:\n"
    )
    rows = [
        [
            beta,
            f"{r['value_max_abs']:.2e}",
            f"{r['value_max_rel']:.2e}",
            format_ulp(r["value_max_ulp"]),
            f"{r['dx_max_abs']:.2e}",
            format_ulp(r["dx_max_ulp"]),
            format_ulp(r["below_threshold_value_max_ulp"]),
            format_ulp(r["ours_value_max_ulp"]),
            format_ulp(r["ours_dx_max_ulp"]),
        ]
        for beta, r in torch_results.items()
    ]
    lines.append(
        _common.markdown_table(
            [
                "beta",
                "value max abs",
                "value max rel",
                "value max ulp",
                "dx max abs",
                "dx max ulp",
                "value max ulp, beta*x <= 20",
                "ours value ulp",
                "ours dx ulp",
            ],
            rows,
        )
    )
    if quick:
        lines.insert(0, "**Quick run (small grid): not the committed figures.**\n")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 points per sign")
    args = parser.parse_args()
    points_per_sign = 40 if args.quick else 1500
    torch_points = 101 if args.quick else 3001
    machine = _common.machine_info()
    _common.print_machine(machine)
    print("max ulp, eager, value/dx/dbeta:")
    summary, arrays = evaluate_grid(points_per_sign)
    torch_results, at_20_1, torch_arrays = torch_threshold_errors(torch_points)
    arrays.update(torch_arrays)

    table = headline(summary)
    out = _common.results_dir(args.quick)
    per_case = {}
    for (mode, dtype, beta, method, quantity), stats in summary.items():
        per_case.setdefault(mode, {}).setdefault(dtype, {}).setdefault(
            beta, {}
        ).setdefault(method, {})[quantity] = stats
    payload = {
        "benchmark": "accuracy_report",
        "quick": args.quick,
        "machine": machine,
        "device": machine["device"],
        "grid": {
            "description": "x in +-[1e-6, 3e3] log-spaced, plus 0, "
            "rounded to the dtype",
            "points_per_sign": points_per_sign,
            "total_points": 2 * points_per_sign + 1,
        },
        "betas": BETAS,
        "ulp_definition": {
            "float32/float64": "|got - exact| / "
            "2**(floor(log2|exact|) - mantissa_bits); "
            "absolute errors below the smallest normal count as 0 "
            "(tests/mpmath_reference.py.ulp_errors)",
            "float16/bfloat16": "|got - correctly_rounded| in ulps of the correctly "
            "rounded result; 0 = correctly rounded",
            "non_finite": "NaN/inf where the exact result is finite counts as inf",
        },
        "methods": {
            "ours": "keras_softplus.ops.softplus(x, beta) "
            "(half dtypes computed in float32)",
            "naive": "tf.nn.softplus(beta*x)/beta in the dtype itself, autodiff",
            "builtin": "tf.nn.softplus(B*x)/B, B a Python constant, grad wrt x only",
        },
        "headline_max_ulp_eager": {
            dtype: {
                m: {q: table[(dtype, m, q)] for q in METHOD_QUANTITIES[m]}
                for m in METHOD_QUANTITIES
            }
            for dtype in DTYPES
        },
        "headline_max_ulp_jit": {
            dtype: {
                m: {
                    q: headline(summary, "jit")[(dtype, m, q)]
                    for q in METHOD_QUANTITIES[m]
                }
                for m in METHOD_QUANTITIES
            }
            for dtype in DTYPES
        },
        "per_case": per_case,
        "torch_threshold_rule": {
            "rule": "value = x and d/dx = 1 where beta*x > 20, else "
            "log1p(exp(beta*x))/beta and exp(z)/(exp(z)+1); NumPy float64",
            "per_beta": torch_results,
            "at_x_20_1_beta_1": at_20_1,
        },
        "per_x_errors_file": "accuracy_errors.npz",
        "per_x_errors_format": NPZ_FORMAT,
    }
    print("\n".join(make_summary.accuracy_section(payload)))
    _common.write_json(os.path.join(out, "accuracy.json"), payload)
    np.savez_compressed(os.path.join(out, "accuracy_errors.npz"), **arrays)
    with open(os.path.join(out, "accuracy.md"), "w") as handle:
        handle.write("# Accuracy against 50-digit mpmath\n\n")
        handle.write(markdown(summary, torch_results, at_20_1, args.quick))
    print(f"wrote accuracy_errors.npz and accuracy.md in {out}")


if __name__ == "__main__":
    sys.exit(main())
