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
MODEL_RATIOS = ["beta_softplus / softplus", "beta_softplus / naive_beta"]
MODEL_RATIOS += ["naive_beta / softplus", "beta_fixed / softplus", "relu / softplus"]
OTHER_BACKEND_RATIOS = ["ours / builtin", "naive / ours", "ours_fixed / builtin"]
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
# What `jit_compile=True` / `False` means on each backend.
COMPILE_NAMES = {
    "tensorflow": {True: "XLA", False: "no XLA"},
    "jax": {True: "XLA", False: "op by op"},
    "torch": {True: "torch.compile", False: "eager"},
}


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
            rows.append([key, "failed"] + [""] * 7)
            continue
        for form, entry in result.items():
            times = entry["times_ms"]
            rows.append(
                [key, form]
                + [f"{times[n]:.2f}" for n in ("builtin", "naive", "ours")]
                + [f"{times['ours_fixed']:.2f}"]
                + [f"{entry[r]:.2f}" for r in OTHER_BACKEND_RATIOS]
            )
    if rows:
        forms = extra.get("other_backend_forms", {})
        lines += [
            "Other Keras backends (JAX: `jax.jit`; PyTorch: eager and "
            "`torch.compile`), fwd+bwd; builtin = the backend's own softplus "
            "with a fixed beta; each backend and size in a fresh process:",
            "",
            *(f"- {form}: {text}" for form, text in forms.items()),
            "",
            markdown_table(
                ["backend@size", "form", "builtin ms", "naive ms", "ours ms"]
                + ["ours_fixed ms", *OTHER_BACKEND_RATIOS],
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


def _step_rows(model, digits):
    """One row per backend and config of `model["backends"]`."""
    rows = []
    for backend, measured in model["backends"].items():
        name = BACKEND_NAMES.get(backend, backend)
        if "error" in measured:
            rows.append([name, "", "failed"] + [""] * (len(MODEL_RATIOS) + 6))
            continue
        default = measured["keras_default_jit_compile"]
        for config in measured["configs"]:
            jit = not config.endswith("no_jit")
            mode = COMPILE_NAMES[backend][jit] + (" (default)" * (jit == default))
            net = "conv" if config.startswith("conv") else "MLP"
            entry = measured["results"].get(config)
            if entry is None:
                reason = measured["failed"].get(config, "not run")
                rows.append([name, net, mode, f"failed: {reason[:80]}"])
                continue
            rows.append(
                [name, net, mode]
                + [_ms(entry, n, digits) for n in entry["times"]]
                + [f"{entry['first_step_s']['beta_softplus']:.1f}"]
                + [_ratio(entry, r, 3) for r in MODEL_RATIOS]
            )
    return rows


def model_section(model):
    spec = model["model"]
    measured = [m for m in model["backends"].values() if m.get("results")]
    if not measured:
        return ["## Training step (`bench_model.py`)", "", "No backend measured.", ""]
    lines = [
        "## Training step (`bench_model.py`)",
        "",
        f"`train_on_batch` of an MLP ({spec['hidden_layers']} x Dense"
        f"({spec['hidden']}) + activation, batch {spec['batch']}, "
        f"{spec['optimizer']}) and of a small conv net; median ms per step, "
        f"{measured[0]['repetitions']} rounds of {measured[0]['steps_per_sample']} "
        "steps (of one under `torch.compile`), each backend in a fresh process "
        "with its five models round-robin; "
        '(default) marks what Keras\' `jit_compile="auto"` picks here; first '
        "step: seconds of the `beta_softplus` model's first step (tracing, "
        "compilation). Measured: " + machine_line(model) + ".",
        "",
    ]
    names = list(next(iter(measured[0]["results"].values()))["times"])
    header = ["backend", "model", "compile", *(f"{n} ms" for n in names)]
    header += ["first step s", *MODEL_RATIOS]
    lines += [markdown_table(header, _step_rows(model, 1)), ""]
    tensorflow = model["backends"].get("tensorflow", {})
    if "layer_diagnostic" not in tensorflow:
        return lines
    diagnostic = tensorflow["layer_diagnostic"]
    rows = [
        [config]
        + [_ms(entry, n, 3) for n in names]
        + [_ratio(entry, r, 3) for r in MODEL_RATIOS]
        for config, entry in diagnostic["results"].items()
    ]
    lines += [
        "TensorFlow: the activation layer alone, fwd+bwd at the model's "
        "activation shape:",
        "",
        markdown_table(["config", *(f"{n} ms" for n in names), *MODEL_RATIOS], rows),
        "",
    ]
    structure = diagnostic["results"]["no_jit"].get("structure", {})
    steps = tensorflow["step_structure"]["results"] or {}
    rows = [
        [
            name,
            structure.get(name, {}).get("tf_ops_outside_xla", "-"),
            structure.get(name, {}).get("xla_launches", "-"),
            steps.get(name, {}).get("xla_entry_kernels", "-"),
            steps.get(name, {}).get("activation_sized_arrays_written", "-"),
        ]
        for name in names
    ]
    header = ["activation", "layer: TF ops", "layer: XLA launches"]
    header += ["jit step: kernels", "jit step: activation-sized arrays"]
    lines += ["TensorFlow structure:", "", markdown_table(header, rows), ""]
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
