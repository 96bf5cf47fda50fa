"""Renders `SUMMARY.md` from the benchmark scripts' JSON files.

It only turns the JSON into markdown tables; what the numbers mean is written
by hand in `benchmarks/README.md` and `docs/benchmarks/summary.md`. A section
whose JSON file is missing is left out.

Usage: python benchmarks/make_summary.py [results-dir]
(default `benchmarks/results/`; `benchmarks/results/quick/` after `--quick` runs)
"""

import json
import os
import sys

from _common import BENCH_DIR
from _common import format_ulp
from _common import markdown_table

OPS_RATIOS = [
    "ours / builtin",
    "naive / ours",
    "ours_fixed / builtin",
    "ours / ours_dx",
    "ours / copy",
]
MODEL_RATIOS = ["beta_softplus / softplus", "naive_beta / softplus"]
MODEL_RATIOS += ["beta_fixed / softplus", "relu / softplus"]


def _load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _ms(entry, name, digits=2):
    return f"{entry['times'][name]['median_s'] * 1e3:.{digits}f}"


def _ratio(entry, name, digits=2):
    ratio = entry["ratios"].get(name)
    return f"{ratio['ratio']:.{digits}f}" if ratio else "-"


def machine_line(result):
    m = result["machine"]
    load = m.get("load_average_at_start")
    code = m.get("code", {})
    clean = "" if code.get("package_matches_head", True) else " + uncommitted changes"
    return (
        f"{m['date_utc'][:10]}, {m['cpu_model']} x{m['cpu_count']} ({m['device']}), "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
        f"load average {load[0]:.1f} at start, "
        f"code at `{(code.get('git_head') or '?')[:10]}`{clean}"
        if load
        else f"{m['date_utc'][:10]}, {m['cpu_model']} x{m['cpu_count']}"
    )


def ops_section(ops):
    names = list(ops["candidate_descriptions"])
    lines = ["## Fused forward + backward (`bench_ops.py`)", ""]
    lines += [f"- `{n}`: {d}" for n, d in ops["candidate_descriptions"].items()]
    reps = ", ".join(f"{k}: {v}" for k, v in ops["repetitions"].items())
    lines += [
        "",
        f"Median ms per call, float32, rounds per size {reps}; a ratio is the "
        "median of per-round ratios. Measured: " + machine_line(ops) + ".",
        "",
    ]
    rows = [
        [size, mode]
        + [_ms(entry, n) for n in names]
        + [_ratio(entry, r) for r in OPS_RATIOS]
        for size, by_mode in ops["results"].items()
        for mode, entry in by_mode.items()
    ]
    header = ["size", "mode", *(f"{n} ms" for n in names), *OPS_RATIOS]
    lines += [markdown_table(header, rows), ""]
    rows = []
    for name, s in ops["structure"].items():
        hlo = s["xla_transcendental_and_divide"]
        rows.append(
            [
                name,
                s["tf_graph_ops_outside_xla"],
                s["tf_graph_xla_launches"],
                s["xla_entry_kernels"],
                s["xla_materialized_full_size_arrays"],
                hlo["exponential"],
                hlo["log-plus-one"],
                hlo["divide"],
            ]
        )
    lines += [
        "Traced graph (x of 4096 elements): TF ops run one kernel each and XLA "
        "launches in a `tf.function`; under `jit_compile=True`, the optimized "
        "HLO's kernels, full-size intermediate arrays, and exp / log1p / divide:",
        "",
        markdown_table(
            ["candidate", "TF ops", "XLA launches", "jit kernels", "jit arrays"]
            + ["exp", "log1p", "divide"],
            rows,
        ),
        "",
    ]
    extra = ops.get("extra", {})
    rows = []
    for key, result in extra.get("other_backends", {}).items():
        if "error" in result:
            rows.append([key, "failed", "", "", ""])
            continue
        times = result["times_ms"]
        rows.append(
            [key, f"{times['builtin']:.2f}", f"{times['ours']:.2f}"]
            + [f"{result[r]:.2f}" for r in ("ours / builtin", "naive / ours")]
        )
    if rows:
        lines += [
            "Other Keras backends (JAX: `jax.jit`; PyTorch: eager and "
            "`torch.compile`), fwd+bwd; "
            "builtin = the backend's own softplus:",
            "",
            markdown_table(
                ["backend@size", "builtin ms", "ours ms", "ours/builtin", "naive/ours"],
                rows,
            ),
            "",
        ]
    dispatch = extra.get("eager_dispatch_1k")
    sequences = extra.get("sequence_lengths_first_pass")
    if dispatch and sequences:
        rows = [
            [
                "eager forward, 1k elements (us per call)",
                f"{dispatch['times_us']['builtin']:.0f}",
                f"{dispatch['times_us']['ours']:.0f}",
                f"{dispatch['ratios']['ours / builtin']:.1f}",
            ]
        ]
        for mode in ("eager", "tf_function"):
            rows.append(
                [
                    f"60 sequence lengths, first pass, {mode} (s)",
                    f"{sequences[f'{mode}|keras_softplus_s']:.2f}",
                    f"{sequences[f'{mode}|ours_s']:.2f}",
                    f"{sequences[f'{mode}|ours / keras_softplus']:.1f}",
                ]
            )
        header = ["case", "built-in", "ours", "ours/built-in"]
        lines += ["Small and changing shapes:", "", markdown_table(header, rows), ""]
    return lines


def model_section(model):
    spec = model["model"]
    lines = [
        "## Training step (`bench_model.py`)",
        "",
        f"`train_on_batch` of an MLP ({spec['hidden_layers']} x Dense"
        f"({spec['hidden']}) + activation, batch {spec['batch']}, "
        f"{spec['optimizer']}) and of a small conv net; median ms per step, "
        f"{model['repetitions']} rounds of {model['steps_per_sample']} steps. "
        "Measured: " + machine_line(model) + ".",
        "",
    ]
    names = list(model["results"]["no_jit"]["times"])
    header = ["config", *(f"{n} ms" for n in names), *MODEL_RATIOS]

    def table(results, digits):
        rows = [
            [config]
            + [_ms(entry, n, digits) for n in names]
            + [_ratio(entry, r, 3) for r in MODEL_RATIOS]
            for config, entry in results.items()
        ]
        return markdown_table(header, rows)

    diagnostic = model["layer_diagnostic"]
    lines += [table(model["results"], 1), ""]
    lines += [
        "The activation layer alone, fwd+bwd at the model's activation shape:",
        "",
        table(diagnostic["results"], 3),
        "",
    ]
    structure = diagnostic["results"]["no_jit"].get("structure", {})
    steps = model["step_structure"]["results"]
    rows = [
        [
            name,
            structure.get(name, {}).get("tf_ops_outside_xla", "-"),
            structure.get(name, {}).get("xla_launches", "-"),
            steps[name]["xla_entry_kernels"],
            steps[name]["activation_sized_arrays_written"],
        ]
        for name in names
    ]
    header = ["activation", "layer: TF ops", "layer: XLA launches"]
    header += ["jit step: kernels", "jit step: activation-sized arrays"]
    lines += ["Structure:", "", markdown_table(header, rows), ""]
    return lines


def memory_section(memory):
    size = memory["elements"]
    lines = [
        "## Memory (`bench_memory.py`)",
        "",
        f"float32, {size:,} elements. Measured: {machine_line(memory)}.",
        "",
        "Saved between forward and backward in a `tf.function`:",
        "",
    ]
    rows = []
    for name, g in memory["graph_saved_for_backward"].items():
        if not g.get("available"):
            rows.append([name, "unavailable", "", ""])
            continue
        which = [
            f"`{e['tensor']}` ({e['kind']})"
            for e in g["saved_buffers"]
            if e["elements"] == size
        ]
        rows.append(
            [
                name,
                g["full_size_buffers"],
                g["full_size_intermediates"],
                ", ".join(which),
            ]
        )
    header = ["candidate", "full-size tensors", "of which intermediates", "which"]
    lines += [markdown_table(header, rows), ""]
    if memory["runtime"]:
        modes = list(next(iter(memory["runtime"].values())))
        rows = [
            [name]
            + [
                f"{r[m]['held_arrays']:.1f} / {r[m]['peak_split_arrays']:.1f} / "
                f"{r[m]['peak_step_arrays']:.1f}"
                for m in modes
            ]
            for name, r in memory["runtime"].items()
        ]
        lines += [
            "Allocator bytes in arrays of that size, above x and dy: held for "
            "backward / peak over forward and backward / peak of one fwd+bwd "
            "function:",
            "",
            markdown_table(["candidate", *modes], rows),
            "",
        ]
    return lines


def accuracy_section(accuracy):
    lines = [
        "## Accuracy (`accuracy_report.py`)",
        "",
        "Max ulp error over all betas against 50-digit mpmath (details on the "
        f"accuracy page). Measured: {machine_line(accuracy)}.",
        "",
    ]
    columns = [("ours", q) for q in ("value", "dx", "dbeta")]
    columns += [("naive", q) for q in ("value", "dx", "dbeta")]
    rows = []
    for mode in ("eager", "jit"):
        for dtype, by_method in accuracy[f"headline_max_ulp_{mode}"].items():
            label = dtype if mode == "eager" else f"{dtype} (jit)"
            rows.append([label] + [format_ulp(by_method[m][q]) for m, q in columns])
    header = ["dtype", *(f"{m} {q}" for m, q in columns)]
    return lines + [markdown_table(header, rows), ""]


def render(directory):
    lines = ["# Benchmark results", ""]
    sections = [
        ("ops.json", ops_section),
        ("model.json", model_section),
        ("memory.json", memory_section),
        ("accuracy.json", accuracy_section),
    ]
    for name, section in sections:
        result = _load(directory, name)
        if result is not None:
            lines += section(result)
    lines.append(
        "Rendered by `benchmarks/make_summary.py` from the JSON files next to "
        "this one (per-round quartiles and the full machine record are there)."
    )
    return "\n".join(lines) + "\n"


def main(directory=None):
    directory = directory or os.path.join(BENCH_DIR, "results")
    path = os.path.join(directory, "SUMMARY.md")
    with open(path, "w") as handle:
        handle.write(render(directory))
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
