"""Forward + backward speed of `keras_softplus.ops.softplus` against baselines.

Every candidate computes the value and its gradients for an upstream `dy`,
on float32 vectors of 1M and 16M elements, eagerly, in `tf.function` and in
`tf.function(jit_compile=True)` (XLA). Candidates run round-robin in one
process (`_common.compare`), and each ratio is the median of the
per-round ratios, so a load change on the shared machine hits all of them.

Candidates: `DESCRIPTIONS` below; `copy` is the memory-bound limit (it moves
the same four arrays as a fused fwd+bwd).

Also recorded (`extra`): eager dispatch for 1k elements, a first pass over 60
sequence lengths (eager and in an uncompiled `tf.function`), and JAX
(`jax.jit`) and PyTorch (eager and `torch.compile`), each in a fresh process
with that backend, in two forms (`FORMS`): the realistic one (forward writes
y, backward reads an upstream dy) and the gradient of the sum.
`structure`: the traced fwd+bwd graph of each candidate (TF ops run one
kernel each, XLA launches of the package's compiled kernels and their
optimized HLO) and the fully jit-compiled program's optimized HLO.

Usage: python benchmarks/bench_ops.py [--quick] [--sizes 1M,16M] [--repetitions N]
       [--output ops.json]
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

import _common  # before TensorFlow: sets TF_CPP_MIN_LOG_LEVEL
import keras
import make_summary
import numpy as np
import tensorflow as tf

from keras_softplus import ops

FIXED_BETA = 1.7  # any beta; 1.7 avoids special-casing of beta == 1.
TARGETS = {  # the targets, kept in the JSON; see benchmarks/README.md
    "ours_vs_builtin": {"ratio": "ours / builtin", "op": "<=", "bound": 1.3},
    "naive_vs_ours": {"ratio": "naive / ours", "op": ">=", "bound": 1.5},
    "ours_fixed_vs_builtin": {
        "ratio": "ours_fixed / builtin",
        "op": "<=",
        "bound": 1.05,
    },
    "ours_vs_builtin_no_jit": {
        "ratio": "ours / builtin",
        "op": "<=",
        "bound": 1.3,
        "mode": "tf_function",
    },
}
DESCRIPTIONS = {
    "builtin": "tf.nn.softplus(B*x)/B, B a Python constant; grad wrt x only",
    "naive": "tf.nn.softplus(b*x)/b, b a tensor; autodiff grad wrt x and b",
    "ours": "keras_softplus.ops.softplus(x, b); fused grad wrt x and b",
    "ours_fixed": "keras_softplus.ops.softplus(x, B), B a Python float; grad wrt x",
    "ours_dx": "diagnostic: ours with grad wrt x only",
    "copy": "x*2 with its gradient dy*2 (same 4 arrays moved as a fused fwd+bwd)",
    "copy_fwd": "diagnostic: x*2 forward only (2 arrays moved)",
}


def _fwd_bwd(value, wrt_beta):
    """`(y, dy/dx[, dy/db])` of `value(x, b)` for the upstream gradient `dy`."""

    def candidate(x, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, b] if wrt_beta else x)
            y = value(x, b)
        return (y, *tape.gradient(y, [x, b] if wrt_beta else [x], output_gradients=dy))

    return candidate


CANDIDATES = {
    "builtin": _fwd_bwd(
        lambda x, b: tf.nn.softplus(FIXED_BETA * x) / FIXED_BETA, False
    ),
    "naive": _fwd_bwd(lambda x, b: tf.nn.softplus(b * x) / b, True),
    "ours": _fwd_bwd(ops.softplus, True),
    "ours_fixed": _fwd_bwd(lambda x, b: ops.softplus(x, FIXED_BETA), False),
    "ours_dx": _fwd_bwd(ops.softplus, False),
    "copy": _fwd_bwd(lambda x, b: x * 2.0, False),
    "copy_fwd": lambda x, b, dy: (x * 2.0,),
}
MODES = {
    "eager": lambda f: f,
    "tf_function": lambda f: tf.function(f),
    "jit": lambda f: tf.function(f, jit_compile=True),
}
STRUCTURAL_OPS = {
    "Placeholder",
    "Const",
    "Identity",
    "IdentityN",
    "StopGradient",
    "NoOp",
    "Shape",
    "Reshape",
    "BroadcastGradientArgs",
    "Fill",
}
PAIRS = [
    ("ours", "builtin"),
    ("naive", "ours"),
    ("ours", "copy"),
    ("ours", "copy_fwd"),
    ("ours_dx", "builtin"),
    ("ours", "ours_dx"),
    ("ours_fixed", "builtin"),
    ("naive", "builtin"),
    ("builtin", "copy"),
]
CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
TRANSCENDENTAL_HLO = ("exponential", "log", "log-plus-one", "logistic", "divide")
NOT_KERNELS = ("parameter", "constant", "tuple", "get-tuple-element", "bitcast")
# `%name = shape op(`; a tuple shape contains spaces.
HLO_INSTRUCTION = re.compile(r"%([\w.\-]+) = (\([^)]*\)|\S+) ([a-z\-]+)\(")


def check_agreement(x, b, dy):
    """All softplus candidates compute the same value and dx (a sanity
    check that the timed work is the intended work)."""
    x, dy = x[:4096], dy[:4096]
    reference = CANDIDATES["builtin"](x, b, dy)
    for name in ("naive", "ours", "ours_dx"):
        result = CANDIDATES[name](x, b, dy)
        for got, want in zip(result[:2], reference, strict=False):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    _, _, grad_naive = CANDIDATES["naive"](x, b, dy)
    _, _, grad_ours = CANDIDATES["ours"](x, b, dy)
    np.testing.assert_allclose(grad_ours.numpy(), grad_naive.numpy(), rtol=1e-3)


def _must_compile(attrs):
    return "_XlaMustCompile" in attrs and attrs["_XlaMustCompile"].b


def tf_graph_ops(graph):
    """Compute ops of a traced graph, split by who runs them.

    The graph's own ops and the bodies of the functions it calls are
    followed recursively. Ops inside a function marked `_XlaMustCompile`
    (a `tf.function(jit_compile=True)`, as the package's kernels are) are
    compiled together by XLA into one launch; the others run one TensorFlow
    kernel each. Returns the ops run by TensorFlow (`outside_xla`), the ops
    compiled by XLA (`inside_xla`), and the compiled functions called from
    TensorFlow (`xla_calls`: function name -> calls, each one XLA launch).
    """
    graph_def = graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    outside = collections.Counter()
    inside = collections.Counter()
    calls = collections.Counter()

    def visit(nodes, compiled):
        for node in nodes:
            if node.op in CALL_OPS:
                name = node.attr["f"].func.name
                body = library[name]
                must = _must_compile(node.attr) or _must_compile(body.attr)
                if must and not compiled:
                    calls[name] += 1
                visit(body.node_def, compiled or must)
            elif node.op not in STRUCTURAL_OPS:
                (inside if compiled else outside)[node.op] += 1

    visit(graph_def.node, False)
    return {
        "outside_xla": dict(sorted(outside.items())),
        "inside_xla": dict(sorted(inside.items())),
        "xla_calls": dict(calls),
    }


def _line_of(entry, name):
    match = re.search(rf"^\s*(?:ROOT )?%{re.escape(name)} = .*$", entry, re.M)
    return match.group(0) if match else ""


def hlo_structure(hlo, size):
    """Top-level kernels of the entry computation of an optimized HLO module,
    the full-size arrays they write that are not outputs (intermediates
    stored and read back), and the transcendental/divide instructions."""
    hlo_ops = collections.Counter(m[2] for m in HLO_INSTRUCTION.findall(hlo))
    entry = hlo[hlo.index("ENTRY") :]
    entry = entry[: entry.index("\n}")]
    instructions = HLO_INSTRUCTION.findall(entry)
    kernels = [op for _, _, op in instructions if op not in NOT_KERNELS]
    root = re.search(r"ROOT %[\w.\-]+ = \([^)]*\) tuple\(([^)]*)\)", entry)
    if root:
        outputs = set(re.findall(r"%([\w.\-]+)", root.group(1)))
    else:  # a single output is the ROOT instruction itself
        outputs = set(re.findall(r"ROOT %([\w.\-]+)", entry))
    materialized = []
    for line in entry.splitlines():
        match = HLO_INSTRUCTION.search(line)
        if not match:
            continue
        name, shape, op = match.groups()
        if (
            op not in NOT_KERNELS
            and re.search(rf"\[{size}\]", shape)
            and name not in outputs
        ):
            op_type = re.search(r'op_type="(\w+)"', line)
            readers = [
                other
                for other, _, other_op in instructions
                if other != name
                and other_op not in ("tuple",)
                and re.search(rf"%{re.escape(name)}[,)]", _line_of(entry, other))
            ]
            materialized.append(
                {
                    "name": name,
                    "tf_op_type": op_type.group(1) if op_type else None,
                    "read_by_kernels": len(readers),
                    "readers": readers,
                }
            )
    return {
        "kernels": len(kernels),
        "kernel_types": dict(collections.Counter(kernels)),
        "materialized_full_size_arrays": len(materialized),
        "materialized": materialized,
        "transcendental_and_divide": {
            op: hlo_ops.get(op, 0) for op in TRANSCENDENTAL_HLO
        },
    }


def _compiled_functions():
    """The package's jit-compiled tf.functions (those an uncompiled graph
    launches, one per size bucket) by Python name, to find the XLA programs
    that a `tf.function` graph calls."""
    from keras_softplus.ops import _execution

    return {f.python_function.__name__: f for f in _execution.COMPILED.values()}


def separate_clusters(graph, calls, size):
    """HLO of each compiled function the `tf.function` graph calls from
    TensorFlow (each is its own XLA program, compiled and launched
    separately; no fusion or common subexpressions across them)."""
    known = _compiled_functions()
    call_inputs = {}
    for op in graph.get_operations():
        if op.type in CALL_OPS:
            call_inputs[op.get_attr("f").name] = [t for t in op.inputs]
    clusters = {}
    for name, count in calls.items():
        python_name = re.fullmatch(r"__inference_(.+)_\d+", name)
        function = known.get(python_name.group(1)) if python_name else None
        inputs = call_inputs.get(name)
        if function is None or inputs is None:
            clusters[name] = {"calls": count, "hlo": None}
            continue
        # Launched on 1-D buffers of a size bucket; any size shows the program.
        args = [
            tf.zeros([size if d is None else d for d in t.shape], t.dtype)
            for t in inputs
        ]
        hlo = function.experimental_get_compiler_ir(*args)(stage="optimized_hlo")
        clusters[name] = {"calls": count, "hlo": hlo_structure(hlo, size)}
    return clusters


def graph_structure(x, b, dy):
    """Op counts per candidate.

    tf.function graph (fwd+bwd, no outer XLA): ops that TensorFlow runs one
    kernel each, XLA launches of the package's jit-compiled kernels (and
    the TF ops compiled inside them), and the optimized HLO of each of
    those launches. Fully jit-compiled fwd+bwd: XLA's optimized HLO (the
    compiled kernels inlined into one program).
    """
    size = x.shape.num_elements()
    structure = {}
    for name, function in CANDIDATES.items():
        graph = tf.function(function).get_concrete_function(x, b, dy).graph
        tf_ops = tf_graph_ops(graph)
        clusters = separate_clusters(graph, tf_ops["xla_calls"], size)
        hlo = tf.function(function, jit_compile=True).experimental_get_compiler_ir(
            x, b, dy
        )(stage="optimized_hlo")
        jit = hlo_structure(hlo, size)
        measured = [c["hlo"] for c in clusters.values() if c["hlo"]]
        complete = len(measured) == len(clusters)

        def total(field, measured=measured, complete=complete):
            return sum(map(field, measured)) if complete else None

        structure[name] = {
            "tf_graph_ops_outside_xla": sum(tf_ops["outside_xla"].values()),
            "tf_graph_op_types_outside_xla": tf_ops["outside_xla"],
            "tf_graph_xla_launches": sum(tf_ops["xla_calls"].values()),
            "tf_graph_ops_inside_xla": sum(tf_ops["inside_xla"].values()),
            "tf_graph_op_types_inside_xla": tf_ops["inside_xla"],
            "tf_graph_xla_clusters": clusters,
            "tf_graph_xla_kernels": total(lambda c: c["kernels"]),
            "tf_graph_xla_materialized_full_size_arrays": total(
                lambda c: c["materialized_full_size_arrays"]
            ),
            "tf_graph_xla_exp": total(
                lambda c: c["transcendental_and_divide"]["exponential"]
            ),
            "xla_entry_kernels": jit["kernels"],
            "xla_entry_kernel_types": jit["kernel_types"],
            "xla_materialized_full_size_arrays": jit["materialized_full_size_arrays"],
            "xla_materialized": jit["materialized"],
            "xla_transcendental_and_divide": jit["transcendental_and_divide"],
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
        calls = {name: (lambda f=f: f(x, b, dy)) for name, f in functions.items()}
        entry = _common.compare(calls, repetitions, PAIRS)
        results[mode] = entry
        times = entry["times"].items()
        print(
            f"  {size:>9,d} {mode:<12} "
            + "  ".join(f"{n}={t['median_s'] * 1e3:.2f}ms" for n, t in times),
            flush=True,
        )
    return results


def evaluate_targets(results):
    targets = {}
    for size_key, by_mode in results.items():
        for key, target in TARGETS.items():
            mode = target.get("mode", "jit")
            ratio = by_mode[mode]["ratios"][target["ratio"]]["ratio"]
            met = (
                ratio <= target["bound"]
                if target["op"] == "<="
                else ratio >= target["bound"]
            )
            targets[f"{key}@{size_key}"] = {
                "ratio_name": target["ratio"],
                "mode": mode,
                "size": size_key,
                "measured": ratio,
                "target": f"{target['op']} {target['bound']}",
                "met": bool(met),
            }
    return targets


def _cpu_vector_flags():
    """The SIMD flags of the CPU (avx*, fma, sse4*), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next(line for line in handle if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if f.startswith(("avx", "fma", "sse4")))


def eager_dispatch(repetitions):
    """Per-call time of eager forward calls on 1k elements."""
    x = tf.constant(np.linspace(-5, 5, 1000, dtype=np.float32))
    beta = tf.Variable(FIXED_BETA)
    calls = {
        "builtin": lambda: tf.nn.softplus(x),
        "ours": lambda: ops.softplus(x, FIXED_BETA),
        "ours_variable_beta": lambda: ops.softplus(x, beta),
    }
    pairs = [("ours", "builtin"), ("ours_variable_beta", "builtin")]
    entry = _common.compare(calls, repetitions, pairs, inner=20)
    return {
        "times_us": {n: t["median_s"] * 1e6 for n, t in entry["times"].items()},
        "ratios": {n: r["ratio"] for n, r in entry["ratios"].items()},
    }


def sequence_lengths(lengths=range(5, 305, 5)):
    """A first pass over 60 sequence lengths, fwd+bwd of (8, L, 64) inputs,
    each length once: eager, and in one uncompiled `tf.function` with the
    length unknown (as `fit` traces it). Seconds in all, ours (a trainable
    beta) against Keras' softplus."""
    beta = tf.Variable(FIXED_BETA)
    functions = {
        "keras_softplus": lambda x: keras.ops.softplus(x),
        "ours": lambda x: ops.softplus(x, beta),
    }

    def step(function):
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = function(x)
            return tape.gradient(y, [x] + [beta] * (function is functions["ours"]))

        return run

    rng = np.random.default_rng(0)
    inputs = [
        tf.constant(rng.normal(0, 3, (8, n, 64)).astype(np.float32)) for n in lengths
    ]
    result = {}
    for mode in ("eager", "tf_function"):
        for name, function in functions.items():
            run = step(function)
            if mode == "tf_function":
                run = tf.function(run, input_signature=[tf.TensorSpec([8, None, 64])])
            start = time.perf_counter()
            for x in inputs:
                run(x)
            result[f"{mode}|{name}_s"] = time.perf_counter() - start
        result[f"{mode}|ours / keras_softplus"] = (
            result[f"{mode}|ours_s"] / result[f"{mode}|keras_softplus_s"]
        )
    return result


OTHER_BACKEND = """
import json, sys
sys.path.insert(0, {bench_dir!r})
import _common
import keras, numpy as np
from keras_softplus import ops
backend, size, repetitions = keras.backend.backend(), {size}, {repetitions}
compiled = {compiled}
rng = np.random.default_rng(0)
x = keras.ops.convert_to_tensor(rng.normal(0, 4, size).astype("float32"))
dy = keras.ops.convert_to_tensor(rng.normal(0, 1, size).astype("float32"))
b = keras.ops.convert_to_tensor(np.float32({beta}))
B = {beta}
functions = {{
    "builtin": (lambda u, c: keras.ops.softplus(B * u) / B, (0,)),
    "naive": (lambda u, c: keras.ops.softplus(c * u) / c, (0, 1)),
    "ours": (lambda u, c: ops.softplus(u, c), (0, 1)),
    "ours_fixed": (lambda u, c: ops.softplus(u, B), (0,)),
}}
if backend == "jax":
    import jax
    def make(f, argnums, realistic):
        def program(u, c, upstream):
            if argnums == (0, 1):
                y, pullback = jax.vjp(f, u, c)
            else:
                y, pullback = jax.vjp(lambda v: f(v, c), u)
            grads = pullback(upstream if realistic else jax.numpy.ones_like(u))
            return (y, *grads) if realistic else grads
        step = jax.jit(program)
        return lambda: jax.block_until_ready(step(x, b, dy))
else:
    import torch
    functions["builtin"] = (lambda u, c: torch.nn.functional.softplus(u, beta=B), (0,))
    if compiled:
        functions = {{n: (torch.compile(f), a) for n, (f, a) in functions.items()}}
    def make(f, argnums, realistic):
        def step():
            inputs = [t.detach().requires_grad_(i in argnums)
                      for i, t in enumerate((x, b))]
            y = f(*inputs)
            wrt = [inputs[i] for i in argnums]
            upstream = dy if realistic else torch.ones_like(y)
            grads = torch.autograd.grad(y, wrt, upstream)
            return (y, *grads) if realistic else grads
        return step
pairs = [("ours", "builtin"), ("ours_fixed", "builtin"), ("naive", "ours")]
pairs += [("naive", "builtin")]
result = {{}}
for form in ("realistic", "summed"):
    calls = {{
        name: make(f, argnums, form == "realistic")
        for name, (f, argnums) in functions.items()
    }}
    entry = _common.compare(calls, repetitions, pairs)
    result[form] = {{
        "times_ms": {{n: t["median_s"] * 1e3 for n, t in entry["times"].items()}},
        **{{n: r["ratio"] for n, r in entry["ratios"].items()}},
        "ratio_q1_q3": {{
            n: [r["ratio_q1"], r["ratio_q3"]] for n, r in entry["ratios"].items()
        }},
    }}
print(json.dumps(result))
"""
FORMS = {
    "realistic": "the forward writes y; the backward reads an upstream dy "
    "(random normal) and writes dx (and d/dbeta); the program returns all",
    "summed": "the gradient of sum(y): an upstream of ones; JAX returns the "
    "gradients only (so y is never written), PyTorch eager computes y as well",
}


def other_backends(sizes, repetitions):
    """`OTHER_BACKEND` above in a fresh process per backend and size: JAX
    under `jax.jit`, PyTorch eager and under `torch.compile` (fwd+bwd of
    float32 vectors in the two `FORMS`; compilation happens in the warm-up
    rounds)."""
    results = {}
    for backend in ("jax", "torch", "torch.compile"):
        for size_key, size in sizes.items():
            code = OTHER_BACKEND.format(
                bench_dir=_common.BENCH_DIR,
                size=size,
                repetitions=repetitions[size_key],
                beta=FIXED_BETA,
                compiled=backend == "torch.compile",
            )
            completed = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                env=dict(os.environ, KERAS_BACKEND=backend.split(".")[0]),
                timeout=1800,
            )
            key = f"{backend}@{size_key}"
            results[key] = (
                json.loads(completed.stdout.splitlines()[-1])
                if completed.returncode == 0
                else {"error": completed.stderr[-2000:]}
            )
            for form, entry in results[key].items():
                if form == "error":
                    print(f"  {key} failed: {entry[-300:]}", flush=True)
                    continue
                print(
                    f"  {key} {form}: ours/builtin {entry['ours / builtin']:.2f}"
                    f"  naive/ours {entry['naive / ours']:.2f}"
                    f"  ours_fixed/builtin {entry['ours_fixed / builtin']:.2f}",
                    flush=True,
                )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 3 reps")
    parser.add_argument("--repetitions", type=int, help="rounds per size")
    parser.add_argument("--sizes", default="1M,16M", help="of 1M and 16M")
    parser.add_argument("--output", default="ops.json", help="results file name")
    args = parser.parse_args()
    if args.quick:
        sizes, repetitions = {"4K": 4096, "64K": 65536}, {"4K": 3, "64K": 3}
    else:
        sizes = {"1M": 1_000_000, "16M": 16_000_000}
        sizes = {k: v for k, v in sizes.items() if k in args.sizes.split(",")}
        repetitions = {k: args.repetitions or {"1M": 30, "16M": 20}[k] for k in sizes}
    machine = _common.machine_info()
    _common.print_machine(machine)
    rng = np.random.default_rng(1)
    small = [tf.constant(rng.normal(0, 4, 4096).astype(np.float32)) for _ in range(2)]
    check_agreement(small[0], tf.constant(FIXED_BETA), small[1])
    structure = graph_structure(small[0], tf.constant(FIXED_BETA), small[1])

    results = {}
    for size_key, size in sizes.items():
        results[size_key] = measure(size, repetitions[size_key])
    targets = evaluate_targets(results)
    extra = {
        "eager_dispatch_1k": eager_dispatch(3 if args.quick else 50),
        "sequence_lengths_first_pass": sequence_lengths(),
        "other_backends": other_backends(sizes, repetitions),
        "other_backend_forms": FORMS,
    }

    payload = {
        "benchmark": "bench_ops",
        "quick": args.quick,
        "machine": machine,
        "cpu_vector_flags": _cpu_vector_flags(),
        "device": machine["device"],
        "dtype": "float32",
        "fixed_beta": FIXED_BETA,
        "repetitions": repetitions,
        "sizes": sizes,
        "candidate_descriptions": DESCRIPTIONS,
        "timing": "median of per-round ratios; candidates interleaved round-robin "
        "in one process; each round calls every candidate once",
        "results": results,
        "targets": targets,
        "structure": structure,
        "extra": extra,
    }
    print("\n".join(make_summary.ops_section(payload)))
    _common.write_json(
        os.path.join(_common.results_dir(args.quick), args.output), payload
    )


if __name__ == "__main__":
    sys.exit(main())
