"""Forward + backward speed of `keras_softplus.ops.softplus` against baselines.

Every candidate computes the value and its gradients for an upstream `dy`,
on float32 vectors of 1M and 16M elements, eagerly, in `tf.function` and in
`tf.function(jit_compile=True)` (XLA). Candidates run round-robin in one
process (`_common.interleaved_times`), and each ratio is the median of the
per-round ratios, so a load change on the shared machine hits all of them.

Candidates:
  builtin      `tf.nn.softplus(B*x)/B`, B a Python constant; grad wrt x only.
  naive        `tf.nn.softplus(b*x)/b`, b a tensor; autodiff wrt x and b.
  ours         `keras_softplus.ops.softplus(x, b)`; grad wrt x and b.
  ours_dx      diagnostic: ours, grad wrt x only (XLA drops the d/dbeta work).
  copy         `x*2` with its gradient `dy*2`: the memory-bound limit; it
               moves the same four arrays as a fused fwd+bwd (read x, write
               y, read dy, write dx). The copy target uses this one.
  copy_fwd     diagnostic: `x*2` alone, forward only (two arrays).

Targets (jit, each size): ours/builtin <= 1.15, naive/ours >= 1.5,
ours/copy <= 1.8.

Usage: python benchmarks/bench_ops.py [--quick]
"""

import argparse
import collections
import os
import re
import sys

import _common  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TF loads)

import numpy as np
import tensorflow as tf

from keras_softplus import ops

FIXED_BETA = 1.7  # any beta; 1.7 avoids special-casing of beta == 1.
TARGETS = {
    "ours_vs_builtin": {"ratio": "ours / builtin", "op": "<=", "bound": 1.15},
    "naive_vs_ours": {"ratio": "naive / ours", "op": ">=", "bound": 1.5},
    "ours_vs_copy": {"ratio": "ours / copy", "op": "<=", "bound": 1.8},
}


def builtin(x, b, dy):
    del b
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.softplus(FIXED_BETA * x) / FIXED_BETA
    return y, tape.gradient(y, x, output_gradients=dy)


def naive(x, b, dy):
    with tf.GradientTape() as tape:
        tape.watch([x, b])
        y = tf.nn.softplus(b * x) / b
    return (y, *tape.gradient(y, [x, b], output_gradients=dy))


def ours(x, b, dy):
    with tf.GradientTape() as tape:
        tape.watch([x, b])
        y = ops.softplus(x, b)
    return (y, *tape.gradient(y, [x, b], output_gradients=dy))


def ours_dx(x, b, dy):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.softplus(x, b)
    return y, tape.gradient(y, x, output_gradients=dy)


def copy(x, b, dy):
    del b
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    return y, tape.gradient(y, x, output_gradients=dy)


def copy_fwd(x, b, dy):
    del b, dy
    return (x * 2.0,)


CANDIDATES = {
    "builtin": builtin,
    "naive": naive,
    "ours": ours,
    "ours_dx": ours_dx,
    "copy": copy,
    "copy_fwd": copy_fwd,
}
MODES = {
    "eager": lambda f: f,
    "tf_function": lambda f: tf.function(f),
    "jit": lambda f: tf.function(f, jit_compile=True),
}
STRUCTURAL_OPS = {
    "Placeholder", "Const", "Identity", "IdentityN", "NoOp", "Shape",
    "Reshape", "BroadcastGradientArgs", "Fill",
}
TRANSCENDENTAL_HLO = ("exponential", "log", "log-plus-one", "logistic", "divide")


def check_agreement(x, b, dy):
    """All softplus candidates compute the same value and dx (a sanity
    check that the timed work is the intended work)."""
    reference = builtin(x[:4096], b, dy[:4096])
    for name in ("naive", "ours", "ours_dx"):
        result = CANDIDATES[name](x[:4096], b, dy[:4096])
        for got, want in zip(result[:2], reference):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    _, _, grad_naive = naive(x[:4096], b, dy[:4096])
    _, _, grad_ours = ours(x[:4096], b, dy[:4096])
    np.testing.assert_allclose(grad_ours.numpy(), grad_naive.numpy(), rtol=1e-3)


def graph_structure(x, b, dy):
    """Op counts: traced tf.function graph (each compute op is one kernel
    launch and one pass over memory without XLA) and XLA's optimized HLO
    (top-level kernels of the entry computation, transcendental ops)."""
    structure = {}
    for name, function in CANDIDATES.items():
        graph = tf.function(function).get_concrete_function(x, b, dy).graph
        counts = collections.Counter(op.type for op in graph.get_operations())
        compute = {k: v for k, v in counts.items() if k not in STRUCTURAL_OPS}
        hlo = tf.function(function, jit_compile=True).experimental_get_compiler_ir(
            x, b, dy
        )(stage="optimized_hlo")
        hlo_ops = collections.Counter(re.findall(r"= \S+ ([a-z\-]+)\(", hlo))
        entry = hlo[hlo.index("ENTRY"):]
        entry = entry[: entry.index("\n}")]
        entry_ops = re.findall(r"= \S+ ([a-z\-]+)\(", entry)
        kernels = [
            op for op in entry_ops
            if op not in ("parameter", "constant", "tuple", "get-tuple-element",
                          "bitcast")
        ]
        # Full-size arrays an entry kernel writes that are not outputs of the
        # program: intermediates that go through memory.
        size = x.shape.num_elements()
        root = re.search(r"ROOT [^\n]*? tuple\(([^)]*)\)", entry)
        if root:
            outputs = set(re.findall(r"%([\w.\-]+)", root.group(1)))
        else:  # a single output is the ROOT instruction itself
            outputs = set(re.findall(r"ROOT %([\w.\-]+)", entry))
        materialized = [
            name for name, shape, op in re.findall(
                r"%([\w.\-]+) = (\S+) ([a-z\-]+)\(", entry)
            if op not in ("parameter", "constant", "tuple")
            and re.search(rf"\[{size}\]", shape) and name not in outputs
        ]
        structure[name] = {
            "tf_graph_compute_ops": sum(compute.values()),
            "tf_graph_op_types": dict(sorted(compute.items())),
            "xla_entry_kernels": len(kernels),
            "xla_materialized_full_size_arrays": len(materialized),
            "xla_materialized_names": materialized,
            "xla_entry_kernel_types": dict(collections.Counter(kernels)),
            "xla_transcendental_and_divide": {
                op: hlo_ops.get(op, 0) for op in TRANSCENDENTAL_HLO
            },
        }
    return structure


def measure(size, repetitions, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(0.0, 4.0, size).astype(np.float32))
    dy = tf.constant(rng.normal(0.0, 1.0, size).astype(np.float32))
    b = tf.constant(FIXED_BETA, tf.float32)
    results = {}
    for mode, wrap in MODES.items():
        functions = {name: wrap(f) for name, f in CANDIDATES.items()}
        calls = {
            name: (lambda f=f: f(x, b, dy)) for name, f in functions.items()
        }
        times = _common.interleaved_times(calls, repetitions, warmup=2)
        entry = {
            "times": {name: _common.summarize(t) for name, t in times.items()},
            "ratios": {},
        }
        pairs = {
            "ours / builtin": ("ours", "builtin"),
            "naive / ours": ("naive", "ours"),
            "ours / copy": ("ours", "copy"),
            "ours / copy_fwd": ("ours", "copy_fwd"),
            "ours_dx / builtin": ("ours_dx", "builtin"),
            "ours / ours_dx": ("ours", "ours_dx"),
            "naive / builtin": ("naive", "builtin"),
            "builtin / copy": ("builtin", "copy"),
        }
        for label, (a, c) in pairs.items():
            entry["ratios"][label] = _common.paired_ratio(times[a], times[c])
        results[mode] = entry
        print(f"  {size:>9,d} {mode:<12} " + "  ".join(
            f"{n}={entry['times'][n]['median_s'] * 1e3:.2f}ms" for n in CANDIDATES
        ), flush=True)
    return results


def evaluate_targets(results):
    verdicts = {}
    for size_key, by_mode in results.items():
        for key, target in TARGETS.items():
            ratio = by_mode["jit"]["ratios"][target["ratio"]]["ratio"]
            met = ratio <= target["bound"] if target["op"] == "<=" else ratio >= target["bound"]
            verdicts[f"{key}@{size_key}"] = {
                "ratio_name": target["ratio"],
                "mode": "jit",
                "size": size_key,
                "measured": ratio,
                "target": f"{target['op']} {target['bound']}",
                "met": bool(met),
            }
    return verdicts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 3 reps")
    args = parser.parse_args()
    if args.quick:
        sizes, repetitions = {"4K": 4096, "64K": 65536}, {"4K": 3, "64K": 3}
    else:
        sizes = {"1M": 1_000_000, "16M": 16_000_000}
        repetitions = {"1M": 30, "16M": 20}
    machine = _common.machine_info()
    print(f"machine: {machine['cpu_model']} x{machine['cpu_count']}, "
          f"TF {machine['tensorflow']}, Keras {machine['keras']}, "
          f"device {machine['device']}")
    rng = np.random.default_rng(1)
    small = [tf.constant(rng.normal(0, 4, 4096).astype(np.float32)) for _ in range(2)]
    check_agreement(small[0], tf.constant(FIXED_BETA), small[1])
    structure = graph_structure(small[0], tf.constant(FIXED_BETA), small[1])

    results = {}
    for size_key, size in sizes.items():
        results[size_key] = measure(size, repetitions[size_key])
    verdicts = evaluate_targets(results)

    print()
    header = ["size", "mode"] + [f"{n} ms" for n in CANDIDATES] + [
        "ours/builtin", "naive/ours", "ours/copy"]
    rows = []
    for size_key, by_mode in results.items():
        for mode, entry in by_mode.items():
            rows.append(
                [size_key, mode]
                + [f"{entry['times'][n]['median_s'] * 1e3:.2f}" for n in CANDIDATES]
                + [f"{entry['ratios'][r]['ratio']:.2f}"
                   for r in ("ours / builtin", "naive / ours", "ours / copy")]
            )
    _common.print_table(header, rows)
    print()
    for name, verdict in verdicts.items():
        print(f"target {name}: {verdict['ratio_name']} = {verdict['measured']:.2f} "
              f"(target {verdict['target']}): {'met' if verdict['met'] else 'NOT met'}")
    print()
    print("graph structure (tf.function compute ops; XLA entry kernels; "
          "XLA exp/log/log1p/divide):")
    for name, s in structure.items():
        t = s["xla_transcendental_and_divide"]
        print(f"  {name:<9} tf ops={s['tf_graph_compute_ops']:<4} xla kernels="
              f"{s['xla_entry_kernels']:<3} materialized="
              f"{s['xla_materialized_full_size_arrays']:<3} exp={t['exponential']} log={t['log']} "
              f"log1p={t['log-plus-one']} div={t['divide']}")

    payload = {
        "benchmark": "bench_ops",
        "quick": args.quick,
        "machine": machine,
        "device": machine["device"],
        "dtype": "float32",
        "fixed_beta": FIXED_BETA,
        "repetitions": repetitions,
        "sizes": sizes,
        "candidate_descriptions": {
            "builtin": "tf.nn.softplus(B*x)/B, B a Python constant; grad wrt x only",
            "naive": "tf.nn.softplus(b*x)/b, b a tensor; autodiff grad wrt x and b",
            "ours": "keras_softplus.ops.softplus(x, b); fused grad wrt x and b",
            "ours_dx": "diagnostic: ours with grad wrt x only",
            "copy": "x*2 with its gradient dy*2 (same 4 arrays moved as a fused fwd+bwd)",
            "copy_fwd": "diagnostic: x*2 forward only (2 arrays moved)",
        },
        "timing": "median of per-round ratios; candidates interleaved round-robin "
                  "in one process; each round calls every candidate once",
        "results": results,
        "targets": verdicts,
        "structure": structure,
    }
    out = _common.results_dir(args.quick)
    _common.write_json(os.path.join(out, "ops.json"), payload)
    _common.append_history(args.quick, "bench_ops", payload["targets"], machine)
    _common.regenerate_summary(args.quick)


if __name__ == "__main__":
    sys.exit(main())
