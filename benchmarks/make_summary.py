"""Builds SUMMARY.md from the results files of the benchmark scripts.

Each script calls this at its end; run it alone to rebuild:
    python benchmarks/make_summary.py [results-dir]
Sections whose results file is missing are marked as not run.
"""

import json
import os
import re
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

import _common  # noqa: E402
from _common import markdown_table  # noqa: E402


def _load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _history(directory, benchmark, kernel=None):
    """target name -> measured values of every full run of `benchmark` on
    the kernel `kernel` (the git blob hash of the imported
    `ops/tf_kernels.py`), oldest first. Runs without that record (older
    benchmark versions) or of another kernel are left out."""
    runs = _load(directory, "history.json") or []
    values = {}
    for run in runs:
        if run["benchmark"] == benchmark and run.get("tf_kernels_blob") == kernel:
            for name, value in run["measured"].items():
                values.setdefault(name, []).append(value)
    return values


def _kernel(result):
    return result["machine"]["code"].get("tf_kernels_blob")


def _other_runs(directory, benchmark, kernel):
    runs = _load(directory, "history.json") or []
    return sum(1 for run in runs if run["benchmark"] == benchmark
               and run.get("tf_kernels_blob") != kernel)


def _runs(history, name, digits=2):
    values = history.get(name, [])
    return ", ".join(f"{v:.{digits}f}" for v in values) if len(values) > 1 else "-"


def _history_note(directory, benchmark, kernel):
    other = _other_runs(directory, benchmark, kernel)
    note = (
        "the last column lists every full run in `history.json` of the same "
        f"`tf_kernels.py` (blob `{(kernel or '?')[:10]}`), oldest first; '-' "
        "when this is the only one"
    )
    if other:
        note += (f"; {other} recorded run(s) of other kernel versions are not "
                 "shown")
    return note


def _ms(seconds):
    return f"{seconds * 1e3:.2f}"


def _met(flag):
    return "met" if flag else "**not met**"


def machine_section(results):
    machine = next((r["machine"] for r in results if r), None)
    if machine is None:
        return ["No results yet."]
    return [
        "## Machine",
        "",
        markdown_table(
            ["platform", "CPU", "cores", "TensorFlow", "Keras", "device"],
            [[machine["platform"], machine["cpu_model"], machine["cpu_count"],
              machine["tensorflow"], machine["keras"], machine["device"]]],
        ),
        "",
        "The CPU cores were shared with other people's jobs while measuring, so "
        "absolute times are noisy. Every ratio below compares candidates that "
        "ran round-robin in the same process: the ratio is the median of the "
        "per-round ratios (quartiles in the JSON files). Each results file "
        "records the machine it ran on (`machine`, `device`).",
        "",
        "**GPU figures: not measured in this session** (no GPU was available; "
        "every number here is CPU).",
        "",
        "Code measured (each results file records the package it imported; "
        "`tf_kernels.py` blob = `git hash-object` of the kernel file):",
        "",
        markdown_table(
            ["results file", "date (UTC)", "git HEAD", "tf_kernels.py blob",
             "package files differing from HEAD"],
            [[r["benchmark"], r["machine"]["date_utc"],
              f"`{(r['machine']['code'].get('git_head') or '?')[:10]}`",
              f"`{(r['machine']['code'].get('tf_kernels_blob') or '?')[:10]}`",
              ", ".join(r["machine"]["code"].get(
                  "package_files_differing_from_head", ["?"])) or "none"]
             for r in results if r],
        ),
        "",
    ]


def _count_by_type(materialized):
    counts = {}
    for m in materialized:
        counts[m.get("tf_op_type") or "?"] = counts.get(m.get("tf_op_type") or "?", 0) + 1
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.items())


def _structure_table(s):
    rows = []
    for n, v in s.items():
        t = v["xla_transcendental_and_divide"]
        launches = v["tf_graph_xla_launches"]
        rows.append([
            n, v["tf_graph_ops_outside_xla"], launches,
            v["tf_graph_ops_inside_xla"] if launches else "-",
            v["tf_graph_xla_kernels"] if launches else "-",
            v["tf_graph_xla_materialized_full_size_arrays"] if launches else "-",
            v["tf_graph_xla_exp"] if launches else "-",
            v["xla_entry_kernels"], v["xla_materialized_full_size_arrays"],
            t["exponential"], t["log-plus-one"], t["log"], t["divide"],
        ])
    return markdown_table(
        ["candidate", "TF ops run by TF", "XLA launches", "TF ops compiled in them",
         "their XLA kernels", "their intermediate arrays", "their exp",
         "jit: XLA kernels", "jit: intermediate arrays", "jit: exp", "jit: log1p",
         "jit: log", "jit: divide"], rows)


def ops_section(ops, directory):
    if ops is None:
        return ["## bench_ops.py", "", "Not run.", ""]
    names = list(next(iter(next(iter(ops["results"].values())).values()))["times"])
    lines = [
        "## bench_ops.py: fused forward + backward, float32",
        "",
        "Value plus gradients for an upstream `dy`, median ms per call "
        "(" + ", ".join(f"{r} rounds at {k}" for k, r in ops["repetitions"].items())
        + "). builtin = "
        f"`tf.nn.softplus({ops['fixed_beta']}*x)/{ops['fixed_beta']}` (beta a "
        "constant, grad wrt x only); naive = `tf.nn.softplus(b*x)/b`, autodiff "
        "wrt x and b; ours = `keras_softplus.ops.softplus`, grad wrt x and "
        "beta; ours_dx = ours with grad wrt x only (diagnostic); copy = `x*2` "
        "with its gradient (moves the same four arrays as a fused fwd+bwd: "
        "read x, write y, read dy, write dx); copy_fwd = `x*2` alone. Modes: "
        "eager; `tf.function`; jit = `tf.function(jit_compile=True)`.",
        "",
    ]
    rows = []
    for size, by_mode in ops["results"].items():
        for mode, entry in by_mode.items():
            rows.append([size, mode] + [_ms(entry["times"][n]["median_s"]) for n in names]
                        + [f"{entry['ratios'][r]['ratio']:.2f}" for r in (
                            "ours / builtin", "naive / ours", "ours / copy",
                            "ours / ours_dx", "naive / builtin", "builtin / copy")])
    lines.append(markdown_table(
        ["size", "mode"] + [f"{n} ms" for n in names]
        + ["ours/builtin", "naive/ours", "ours/copy", "ours/ours_dx",
           "naive/builtin", "builtin/copy"], rows))
    kernel = _kernel(ops)
    history = _history(directory, "bench_ops", kernel)
    lines += [
        "",
        "Targets (jit, per size). Verdicts are this run's; the per-round "
        "quartiles show the spread within the run, and "
        + _history_note(directory, "bench_ops", kernel) + ":",
        "",
    ]
    rows = []
    for name, v in ops["targets"].items():
        r = ops["results"][v["size"]]["jit"]["ratios"][v["ratio_name"]]
        rows.append([v["ratio_name"], v["size"], f"{v['measured']:.2f}",
                     f"{r['ratio_q1']:.2f} - {r['ratio_q3']:.2f}", v["target"],
                     _met(v["met"]), _runs(history, name)])
    lines.append(markdown_table(
        ["ratio", "size", "measured", "per-round quartiles", "target", "verdict",
         "all full runs"], rows))
    s = ops["structure"]
    o = s["ours"]
    clusters = list(o["tf_graph_xla_clusters"].items())
    cluster_text = "; ".join(
        f"`{re.sub(r'^__inference_|_[0-9]+$', '', n)}` ({c['calls']} call, "
        + (f"{c['hlo']['kernels']} XLA kernels, "
           f"{c['hlo']['materialized_full_size_arrays']} intermediate arrays"
           if c["hlo"] else "HLO not found") + ")"
        for n, c in clusters)
    lines += [
        "",
        "Work per element, from the traced graphs (x of 4096 elements). "
        "The package's kernels are `tf.function(jit_compile=True)` functions, "
        "so the fwd+bwd `tf.function` graph of ours holds calls to them; the "
        "count follows every call into the function bodies. TF ops run by "
        "TF = compute ops TensorFlow runs one kernel each (one pass over "
        "memory each), outside any compiled function; Identity, "
        "StopGradient, Reshape, Shape, Fill, Const and Placeholder are not "
        "counted. XLA launches = calls to jit-compiled functions made from "
        "TensorFlow, each compiled and run as its own XLA program (in eager "
        "mode the same calls happen one by one); for ours: "
        f"{cluster_text}. 'their ...' columns: the TF ops inside those "
        "functions, and the optimized HLO of each launch, summed. jit "
        "columns: the whole fwd+bwd as one XLA program (the kernels inlined): "
        "top-level kernels of the entry computation, the full-size arrays "
        "they write that are not outputs (intermediates stored and read "
        "back), and exp/log1p/log/divide instructions:",
        "",
        _structure_table(s),
        "",
    ]
    missed = [v for v in ops["targets"].values() if not v["met"]]
    if missed:
        lines += ["### Gaps and causes (bench_ops)", ""]
    res = ops["results"]
    sizes = list(res)

    def ratio(mode, name, size):
        return res[size][mode]["ratios"][name]["ratio"]

    def per_size(name, mode="jit"):
        return ", ".join(f"{ratio(mode, name, k):.2f} at {k}" for k in sizes)

    def ms(size, name, mode="jit"):
        return res[size][mode]["times"][name]["median_s"] * 1e3

    kinds = {v["ratio_name"] for v in missed}
    b = s["builtin"]
    dx_below = all(ratio("jit", "ours_dx / builtin", k) < 1 for k in sizes)
    beta_grad_grows = (
        len(sizes) > 1
        and ratio("jit", "ours / ours_dx", sizes[-1]) > ratio("jit", "ours / ours_dx", sizes[0])
    )
    if "ours / builtin" in kinds:
        if dx_below:
            first = (
                "Without the beta gradient ours is faster than the built-in "
                f"(ours_dx/builtin = {per_size('ours_dx / builtin')}): "
                f"{s['ours_dx']['xla_transcendental_and_divide']['exponential']} "
                "exp shared by value and gradient, against the built-in's "
                f"{b['xla_transcendental_and_divide']['exponential']} exp and "
                f"{b['xla_transcendental_and_divide']['log-plus-one']} log1p "
                "(Softplus, and its Sigmoid gradient). So the gap is the beta "
                "gradient"
            )
        else:
            first = (
                "Part of the gap is the elementwise work itself "
                f"(ours_dx/builtin = {per_size('ours_dx / builtin')}), part the "
                "beta gradient"
            )
        met_sizes = [v["size"] for v in ops["targets"].values()
                     if v["ratio_name"] == "ours / builtin" and v["met"]]
        met_note = ""
        if met_sizes:
            met_note = (
                f" Met at {', '.join(met_sizes)} in this run; near the bound "
                "the verdict can change between runs (see the history column).")
        mat = o["xla_materialized"]
        read_by = [m.get("read_by_kernels") for m in mat if m.get("read_by_kernels")]
        reduce_fed = [m for m in mat if m.get("readers")
                      and all("reduce" in r for r in m["readers"])]
        lines += [
            f"- **ours vs builtin** (jit: {per_size('ours / builtin')}; target "
            f"<= 1.15).{met_note} {first}: ours/ours_dx = "
            f"{per_size('ours / ours_dx')} (+"
            + ", +".join(f"{ms(k, 'ours') - ms(k, 'ours_dx'):.1f} ms at {k}" for k in sizes)
            + "). The per-element d/dbeta is a few multiplies; what it costs "
            "is memory traffic. In the optimized HLO of ours, "
            f"{o['xla_entry_kernels']} kernels, {len(mat)} of them write a "
            "full-size intermediate array that later kernels read back (by "
            f"source op: {_count_by_type(mat)}"
            + (f"; each read by {min(read_by)} to {max(read_by)} kernels"
               if read_by else "")
            + (f"; {len(reduce_fed)} of them only read by the reduction to "
               "the scalar beta" if reduce_fed else "")
            + "), against "
            f"{s['ours_dx']['xla_entry_kernels']} kernels / "
            f"{s['ours_dx']['xla_materialized_full_size_arrays']} "
            "intermediates without the beta gradient and "
            f"{b['xla_entry_kernels']} / {b['xla_materialized_full_size_arrays']} "
            "for the built-in. XLA on CPU does not duplicate the exp and the "
            "divides into each of their consumer loops, so each is stored "
            "and reloaded"
            + ("; the beta gradient's share grows from "
               f"{sizes[0]} to {sizes[-1]} (ours/ours_dx above), where an "
               "array no longer fits in cache and each intermediate is a "
               "round trip to memory" if beta_grad_grows else "")
            + ". The arithmetic bought for accuracy (Dekker error-free product "
            "of `beta*x`, atanh series for log1p, deep-tail shift; "
            f"{o['xla_transcendental_and_divide']['divide']} divides in the "
            "HLO against the built-in's "
            f"{b['xla_transcendental_and_divide']['divide']}) is "
            + ("the smaller part, as ours_dx shows." if dx_below
               else "part of it (ours_dx/builtin above 1)."),
        ]
    if "naive / ours" in kinds:
        beta_ours = [ms(k, "ours") - ms(k, "ours_dx") for k in sizes]
        beta_naive = [ms(k, "naive") - ms(k, "builtin") for k in sizes]
        needed = [ratio("jit", "naive / builtin", k) / 1.5 for k in sizes]
        lines += [
            f"- **naive vs ours** (jit: {per_size('naive / ours')}; target "
            ">= 1.5). Under XLA the naive composition is fused too "
            f"({s['naive']['xla_entry_kernels']} kernels, "
            f"{s['naive']['xla_materialized_full_size_arrays']} intermediate "
            "arrays), so a fused op has no kernel-count advantage over it; "
            "naive does the built-in's work plus the beta gradient and its "
            f"reduction: naive/builtin = {per_size('naive / builtin')}. As "
            "naive/ours = (naive/builtin) / (ours/builtin), 1.5x needs "
            "ours/builtin <= "
            + ", ".join(f"{n:.2f} at {k}" for n, k in zip(needed, sizes))
            + ", against the measured "
            f"{per_size('ours / builtin')}. The beta gradient costs ours "
            + ", ".join(f"{v:.1f} ms" for v in beta_ours)
            + " (ours - ours_dx) and naive "
            + ", ".join(f"{v:.1f} ms" for v in beta_naive)
            + " (naive - builtin), so the target needs the value and d/dx "
            "of ours to be far cheaper than the built-in's"
            + (f" (ours_dx/builtin is {per_size('ours_dx / builtin')})"
               if dx_below else "")
            + ", or the beta gradient to fuse into one loop, which XLA on "
            "CPU does not do with this graph (see above).",
        ]
    if "ours / copy" in kinds:
        lines += [
            f"- **ours vs copy** (jit: {per_size('ours / copy')}; target "
            "<= 1.8). On this CPU a softplus fwd+bwd is compute-bound: the "
            "built-in moves the copy's four arrays "
            f"({b['xla_entry_kernels']} XLA kernels, "
            f"{b['xla_materialized_full_size_arrays']} intermediate arrays) "
            f"and is still {per_size('builtin / copy')} times the copy, for "
            "its exp, log1p and second exp on 2 cores; ours adds the "
            "intermediate arrays described above. The target assumes the "
            "memory-bound regime of a GPU, where an elementwise kernel costs "
            "what its memory traffic costs; not measurable here (no GPU).",
        ]
    # No target outside jit; describe what these modes run, from the data.
    modes = [m for m in ("eager", "tf_function") if m in res[sizes[0]]]
    if modes and o["tf_graph_xla_launches"]:
        same_clusters = (s["ours_dx"]["tf_graph_xla_kernels"]
                         == o["tf_graph_xla_kernels"])
        text = (
            "- **eager and tf.function, no outer XLA** (no target; the "
            "default outside `jit_compile=True`): ours/builtin = "
            + "; ".join(f"{m} {per_size('ours / builtin', m)}" for m in modes)
            + ", naive/ours = "
            + "; ".join(f"{m} {per_size('naive / ours', m)}" for m in modes)
            + f". Ours runs {o['tf_graph_ops_outside_xla']} TF ops and "
            f"{o['tf_graph_xla_launches']} XLA launches (the value in the "
            "forward, the first-order gradient in the backward), while the "
            f"built-in and naive run {b['tf_graph_ops_outside_xla']} and "
            f"{s['naive']['tf_graph_ops_outside_xla']} TF ops, each a kernel "
            "and a pass over memory. The two launches are separate XLA "
            "programs, so they share nothing: together they write "
            f"{o['tf_graph_xla_materialized_full_size_arrays']} intermediate "
            f"arrays and compute exp {o['tf_graph_xla_exp']} times, against "
            f"{o['xla_materialized_full_size_arrays']} and "
            f"{o['xla_transcendental_and_divide']['exponential']} when the "
            "caller's jit compiles everything as one program."
        )
        if same_clusters:
            text += (
                " The gradient launch returns d/dx and d/dbeta together, so "
                "a caller that needs only d/dx still pays for d/dbeta "
                "(ours/ours_dx = "
                + "; ".join(f"{m} {per_size('ours / ours_dx', m)}" for m in modes)
                + ", against " + per_size("ours / ours_dx") + " under jit).")
        lines.append(text)
    lines.append("")
    return lines


def model_section(model, directory, ops=None):
    if model is None:
        return ["## bench_model.py", "", "Not run.", ""]
    m = model["model"]
    names = list(next(iter(model["results"].values()))["times"])
    lines = [
        "## bench_model.py: MLP training step",
        "",
        f"{m['hidden_layers']} hidden Dense({m['hidden']}) + activation, "
        f"Dense({m['classes']}), {m['loss']}, {m['optimizer']}, batch "
        f"{m['batch']} x {m['features']} features, float32; "
        "`model.train_on_batch`, median ms per step "
        f"({model['repetitions']} rounds of {model['steps_per_sample']} steps). "
        "no_jit = `jit_compile=False`, which is what Keras' "
        "`jit_compile=\"auto\"` resolved to on this CPU-only machine "
        f"(auto -> {model['keras_auto_jit_on_this_machine']}); jit = "
        "`jit_compile=True`.",
        "",
    ]
    rows = []
    for config, entry in model["results"].items():
        rows.append([config] + [f"{entry['times'][n]['median_s'] * 1e3:.1f}" for n in names]
                    + [f"{entry['ratios'][r]['ratio']:.3f}" for r in (
                        "beta_softplus / softplus", "naive_beta / softplus",
                        "beta_fixed / softplus", "relu / softplus")
                        if r in entry["ratios"]])
    lines.append(markdown_table(
        ["config"] + [f"{n} ms" for n in names]
        + ["beta_softplus/softplus", "naive_beta/softplus", "beta_fixed/softplus",
           "relu/softplus"], rows))
    kernel = _kernel(model)
    history = _history(directory, "bench_model", kernel)
    lines += ["", "Targets (" + _history_note(directory, "bench_model", kernel)
              + "):", ""]
    rows = [[v["ratio_name"], v["config"], f"{v['measured']:.3f}",
             f"{v['measured_q1_q3'][0]:.3f} - {v['measured_q1_q3'][1]:.3f}",
             v["target"], _met(v["met"]), _runs(history, name, 3)]
            for name, v in model["targets"].items()]
    lines.append(markdown_table(
        ["ratio", "config", "measured", "per-round quartiles", "target", "verdict",
         "all full runs"], rows))
    diag = model.get("layer_diagnostic")
    if diag:
        d = diag["results"]
        lines += [
            "",
            "The activation layer alone (diagnostic): forward and backward at "
            f"the model's activation shape ({m['batch']} x {m['hidden']}), "
            "gradients wrt its input and trainable weights, in a "
            "`tf.function` without (no_jit) and with (jit) XLA; median ms per "
            f"call ({diag['repetitions']} rounds of {diag['calls_per_sample']} "
            "calls, round-robin):",
            "",
        ]
        rows = []
        for config, entry in d.items():
            rows.append([config] + [f"{entry['times'][n]['median_s'] * 1e3:.3f}"
                                    for n in names]
                        + [f"{entry['ratios'][f'{n} / softplus']['ratio']:.3f}"
                           for n in names if n != "softplus"])
        lines.append(markdown_table(
            ["config"] + [f"{n} ms" for n in names]
            + [f"{n}/softplus" for n in names if n != "softplus"], rows))
        st = d.get("no_jit", {}).get("structure")
        if st:
            lines += [
                "",
                "Per layer without XLA, from the traced graph (TF ops run by "
                "TensorFlow, one kernel each / XLA launches of the package's "
                "jit-compiled kernels): "
                + ", ".join(f"{n} {v['tf_ops_outside_xla']} / {v['xla_launches']}"
                            for n, v in st.items()) + ".",
            ]
    step = (model.get("step_structure") or {}).get("results")
    if step:
        lines += [
            "",
            "Each model's loss + gradients (no optimizer update) compiled as "
            "one XLA program, optimized HLO (diagnostic): entry kernels / "
            f"kernels writing an activation-sized [{m['batch']}, {m['hidden']}] "
            "array (pre-activations, activations, their gradients, and "
            "intermediates stored between kernels): "
            + ", ".join(f"{n} {v['xla_entry_kernels']} / "
                        f"{v['activation_sized_arrays_written']}"
                        for n, v in step.items()) + ".",
        ]
    missed = [v for v in model["targets"].values() if not v["met"]]
    if missed:
        lines += ["", "### Gaps and causes (bench_model)", ""]
        res = model["results"]
        for v in missed:
            config = v["config"]
            entry = res[config]
            times = entry["times"]

            def step_ms(name):
                return times[name]["median_s"] * 1e3

            extra = step_ms("beta_softplus") - step_ms("softplus")
            budget = 0.03 * step_ms("softplus")
            text = (
                f"- **{config}** ({v['measured']:.3f}x, per-round quartiles "
                f"{v['measured_q1_q3'][0]:.3f} - {v['measured_q1_q3'][1]:.3f}): "
                f"the BetaSoftplus step takes {extra:+.1f} ms over the built-in "
                f"softplus step ({step_ms('softplus'):.1f} ms; the 3% budget "
                f"is {budget:.1f} ms)."
            )
            layer = diag["results"].get(config) if diag else None
            if layer:
                lt = layer["times"]

                def layer_ms(name):
                    return lt[name]["median_s"] * 1e3

                per_layer = layer_ms("beta_softplus") - layer_ms("softplus")
                own_beta = layer_ms("beta_softplus") - layer_ms("beta_fixed")
                rest = layer_ms("beta_fixed") - layer_ms("softplus")
                predicted = m["hidden_layers"] * per_layer
                lr = layer["ratios"]["beta_softplus / softplus"]
                text += (
                    " The activation alone: BetaSoftplus "
                    f"{layer_ms('beta_softplus'):.3f} ms against "
                    f"{layer_ms('softplus'):.3f} ms per layer (ratio "
                    f"{lr['ratio']:.2f}, quartiles {lr['ratio_q1']:.2f} - "
                    f"{lr['ratio_q3']:.2f}), so the {m['hidden_layers']} layers "
                    f"add {predicted:+.1f} ms per step (of the measured "
                    f"{extra:+.1f} ms), "
                    + ("more than the budget on their own: the gap is the "
                       "activation's own cost." if predicted > budget else
                       "within the budget: the layers' own work, measured "
                       "in isolation, does not account for the measured "
                       "step difference, and this run does not attribute "
                       "the rest (the step's per-round quartiles and the "
                       "history column show how far the ratio moves).")
                    + f" Of the per-layer {per_layer:+.3f} ms, "
                    f"{own_beta:+.3f} ms is what learning beta adds "
                    "(beta_softplus - beta_fixed) and "
                    f"{rest:+.3f} ms the fused op itself with beta fixed "
                    "(beta_fixed - softplus)."
                )
                st = (diag["results"].get("no_jit") or {}).get("structure")
                if config == "no_jit" and st:
                    bs, sp, bf = st["beta_softplus"], st["softplus"], st["beta_fixed"]
                    text += (
                        f" Without XLA each BetaSoftplus layer makes "
                        f"{bs['xla_launches']} XLA launches and runs "
                        f"{bs['tf_ops_outside_xla']} TF ops: value and "
                        "gradient of the fused op on x, and again on the "
                        "scalar `beta_raw` (beta = softplus(beta_raw) + eps); "
                        f"with beta fixed {bf['xla_launches']} launches (no "
                        "gradient for beta_raw). The built-in runs "
                        f"{sp['tf_ops_outside_xla']} TF ops ("
                        + ", ".join(sp["tf_op_types_outside_xla"]) + ")."
                    )
                    if ops:
                        o = ops["structure"]["ours"]
                        dx_ratio = ", ".join(
                            f"{r['tf_function']['ratios']['ours / ours_dx']['ratio']:.2f}"
                            for r in ops["results"].values())
                        text += (
                            " Learning beta adds little because the fused "
                            "op's gradient launch computes d/dbeta and its "
                            "reduction whether or not beta is learned "
                            f"(bench_ops, tf.function: ours/ours_dx = {dx_ratio}); "
                            "the cost is the fused op run as separate XLA "
                            "launches, which share nothing: the value and "
                            f"gradient launches write {o['tf_graph_xla_materialized_full_size_arrays']} "
                            "activation-sized intermediate arrays and compute "
                            f"exp {o['tf_graph_xla_exp']} times, where one "
                            "XLA program writes "
                            f"{o['xla_materialized_full_size_arrays']} and "
                            f"computes exp {o['xla_transcendental_and_divide']['exponential']} "
                            "time(s), and without the beta gradient "
                            f"{ops['structure']['ours_dx']['xla_materialized_full_size_arrays']} "
                            "arrays (bench_ops HLO).")
                        jit_layer = diag["results"].get("jit")
                        if jit_layer:
                            text += (
                                " Compiled inside the caller's XLA program "
                                "the same layer with beta fixed takes "
                                f"{jit_layer['ratios']['beta_fixed / softplus']['ratio']:.2f}x "
                                "the built-in (jit row above).")
                    probe = diag.get("launch_probe")
                    if probe:
                        fused = probe["times"]["fused_scalar"]["median_s"] * 1e3
                        plain = probe["times"]["builtin_scalar"]["median_s"] * 1e3
                        launch = max(fused - plain, 0.0) / 2
                        share = bs["xla_launches"] * launch
                        text += (
                            " The launches' fixed cost is "
                            + ("small" if share < 0.5 * per_layer else "a large part")
                            + ": fwd+bwd on a scalar takes "
                            f"{fused * 1e3:.0f} us for the fused op (2 launches) "
                            f"and {plain * 1e3:.0f} us for the built-in (3 TF "
                            "ops) in a `tf.function`, about "
                            f"{launch * 1e3:.0f} us more per launch, so "
                            f"{bs['xla_launches']} launches add about "
                            f"{share * 1e3:.0f} us of the {per_layer * 1e3:+.0f} "
                            "us per layer."
                        )
                if config == "jit" and step:
                    depth = m["hidden_layers"]
                    more = (step["beta_softplus"]["activation_sized_arrays_written"]
                            - step["softplus"]["activation_sized_arrays_written"])
                    more_fixed = (step["beta_fixed"]["activation_sized_arrays_written"]
                                  - step["softplus"]["activation_sized_arrays_written"])
                    mib = m["batch"] * m["hidden"] * 4 / 2**20
                    text += (
                        " In the step's XLA program the BetaSoftplus model "
                        f"writes {more:+d} activation-sized arrays more than "
                        f"the built-in's ({more / depth:+.0f} per layer, "
                        f"{mib:.0f} MiB each, each stored and read back), "
                        f"{more_fixed:+d} with beta fixed"
                        + (" (bench_ops HLO, one layer's worth: ours "
                           f"{ops['structure']['ours']['xla_materialized_full_size_arrays']}"
                           ", ours_dx "
                           f"{ops['structure']['ours_dx']['xla_materialized_full_size_arrays']}"
                           ", builtin "
                           f"{ops['structure']['builtin']['xla_materialized_full_size_arrays']}"
                           " intermediate arrays)" if ops else "")
                        + ": the exp and divides that XLA does not duplicate "
                        "into their consumer loops, and the per-element "
                        "d/dbeta product read by the reduction to beta."
                    )
            lines.append(text)
    lines.append("")
    return lines


def memory_section(memory, ops=None):
    if memory is None:
        return ["## bench_memory.py", "", "Not run.", ""]
    n = memory["elements"]
    lines = [
        "## bench_memory.py: what the gradient keeps, and peak memory",
        "",
        f"float32, N = {n:,} elements (one array = {memory['array_bytes'] / 2**20:.1f} "
        "MiB).",
        "",
        "Saved between forward and backward in a `tf.function` (the forward "
        "function's extra outputs, aliases followed to the buffer owner):",
        "",
    ]
    rows = []
    for name, g in memory["graph_saved_for_backward"].items():
        if not g.get("available"):
            rows.append([name, "unavailable", "", "", ""])
            continue
        full = [e for e in g["saved_buffers"] if e["elements"] == n]
        rows.append([name, g["full_size_buffers"], g["full_size_intermediates"],
                     f"{g['full_size_bytes'] / 2**20:.1f}",
                     ", ".join(f"`{e['tensor']}` ({e['kind']})" for e in full)])
    lines.append(markdown_table(
        ["candidate", "full-size tensors saved", "of which intermediates", "MiB",
         "which"], rows))
    if memory["runtime"]:
        lines += [
            "",
            "Runtime, from `tf.config.experimental.get_memory_info('CPU:0')` "
            "(it counts on CPU with TF "
            f"{memory['machine']['tensorflow']}), in N-element arrays above a "
            "baseline holding x and dy. held = alive after the forward under "
            "a live GradientTape, minus y (kept for backward); peak_split = "
            "peak over that forward and the backward; peak_step = peak of one "
            "function doing forward and backward and returning y and the "
            "gradients (>= 2 arrays).",
            "",
        ]
        rows = []
        for name, by_mode in memory["runtime"].items():
            rows.append([name] + [
                f"{by_mode[mode]['held_arrays']:.1f} / {by_mode[mode]['peak_split_arrays']:.1f}"
                f" / {by_mode[mode]['peak_step_arrays']:.1f}" for mode in by_mode])
        modes = list(next(iter(memory["runtime"].values())))
        lines.append(markdown_table(
            ["candidate"] + [f"{m}: held / peak_split / peak_step" for m in modes], rows))
    lines += ["", "Targets:", ""]
    lines.append(markdown_table(
        ["target", "measured", "bound", "verdict"],
        [[k, f"{v['measured']:.2f}", v["target"], _met(v["met"])]
         for k, v in memory["targets"].items()]))
    missed = [k for k, v in memory["targets"].items() if not v["met"]]
    rt = memory.get("runtime") or {}
    graph = memory["graph_saved_for_backward"]

    def saved_full(name):
        """Full-size tensors the forward saves, counted with repeats."""
        g = graph.get(name) or {}
        if not g.get("available") or "saved_output_owners" not in g:
            return None
        sizes = {e["tensor"]: e["elements"] for e in g["saved_buffers"]}
        return sum(1 for o in g["saved_output_owners"] if sizes.get(o) == n)

    if missed:
        lines += ["", "### Gaps and causes (bench_memory)", ""]
        for mode in ("eager", "tf_function"):
            if any(k.startswith(f"runtime {mode}:") for k in missed):
                lines.append(
                    f"- **{mode}: ours holds "
                    f"{rt['ours'][mode]['held_arrays']:.1f} arrays for "
                    "backward** (naive "
                    f"{rt['naive'][mode]['held_arrays']:.1f}, plain "
                    f"{rt['plain'][mode]['held_arrays']:.1f}). The graph "
                    "analysis above lists what a `tf.function` forward saves; "
                    "this run does not identify what else stays alive.")
        if any(k.startswith("runtime jit:") for k in missed):
            counts = {c: saved_full(c) for c in rt}
            fits = all(
                counts[c] is not None
                and abs(rt[c]["jit"]["held_arrays"] - counts[c]) < 0.25
                for c in rt)
            og = graph["ours"]
            own_x = [t for t, o in zip(og.get("saved_output_names", []),
                                       og.get("saved_output_owners", []))
                     if o == "x:0"]
            text = (
                f"- **jit: ours holds {rt['ours']['jit']['held_arrays']:.1f} "
                "arrays** when an XLA-compiled forward is differentiated from "
                "outside (tf_function: "
                f"{rt['ours']['tf_function']['held_arrays']:.1f}). ")
            if fits:
                text += (
                    "Under XLA every full-size tensor the forward saves for "
                    "the backward costs one array, x included, while without "
                    "XLA a saved x is the input itself: jit held against the "
                    "full-size tensors saved (graph analysis, counted with "
                    "repeats) is "
                    + ", ".join(f"{c} {rt[c]['jit']['held_arrays']:.1f} / "
                                f"{counts[c]}" for c in rt)
                    + ". So no candidate here meets the bound under jit: "
                    "each saves x (plain "
                    f"{rt['plain']['jit']['held_arrays']:.1f}, copy "
                    f"{rt['copy']['jit']['held_arrays']:.1f}).")
            else:
                text += (
                    "jit held and full-size saved tensors (graph analysis, "
                    "with repeats) do not match one to one here: "
                    + ", ".join(f"{c} {rt[c]['jit']['held_arrays']:.1f} / "
                                f"{counts[c]}" for c in rt) + ".")
            if len(own_x) > 1:
                text += (
                    f" Ours saves x {len(own_x)} times ("
                    + ", ".join(f"`{t}`" for t in own_x)
                    + "): the `x` that the gradient closure uses, and the "
                    "output of the IdentityN op through which "
                    "`tf.custom_gradient` passes its inputs in graph mode; "
                    "hence one array more than plain.")
            text += (
                " When the whole train step is one XLA program (Keras "
                "`jit_compile=True`), nothing is split and peak_step applies "
                f"(ours {rt['ours']['jit']['peak_step_arrays']:.1f}, naive "
                f"{rt['naive']['jit']['peak_step_arrays']:.1f}, builtin "
                f"{rt['builtin']['jit']['peak_step_arrays']:.1f} arrays"
                + (", against full-size intermediate arrays in the fused "
                   "program's HLO (bench_ops): "
                   + ", ".join(
                       f"{c} {ops['structure'][c]['xla_materialized_full_size_arrays']}"
                       for c in ("ours", "naive", "builtin"))
                   if ops else "")
                + ").")
            lines.append(text)
    if rt:
        text = (
            "- **tf.function peak** (not a target): ours peaks at "
            f"{rt['ours']['tf_function']['peak_step_arrays']:.1f} arrays in "
            "one fwd+bwd step against "
            f"{rt['naive']['tf_function']['peak_step_arrays']:.1f} for naive "
            f"and {rt['builtin']['tf_function']['peak_step_arrays']:.1f} for "
            "the built-in, although it saves only x.")
        clusters = (ops or {}).get("structure", {}).get("ours", {}).get(
            "tf_graph_xla_clusters", {})
        grad = [c["hlo"] for name, c in clusters.items()
                if "first_order_gradients" in name and c.get("hlo")]
        if grad:
            text += (
                " Without an outer jit its backward is one XLA launch of the "
                "first-order gradient, which writes "
                f"{grad[0]['materialized_full_size_arrays']} full-size "
                "intermediate arrays (bench_ops structure) while y is alive "
                "and dx is written: 1 + "
                f"{grad[0]['materialized_full_size_arrays']} + 1 = "
                f"{grad[0]['materialized_full_size_arrays'] + 2} arrays above "
                "the baseline.")
        lines.append(text)
    lines.append("")
    return lines


def accuracy_section(accuracy, directory):
    if accuracy is None:
        return ["## accuracy_report.py", "", "Not run.", ""]
    head = accuracy["headline_max_ulp_eager"]
    jit = accuracy["headline_max_ulp_jit"]
    cols = [("ours", q) for q in ("value", "dx", "dbeta")] + [
        ("naive", q) for q in ("value", "dx", "dbeta")] + [
        ("builtin", q) for q in ("value", "dx")]
    rows = [[d] + [_common.format_ulp(head[d][m][q]) for m, q in cols] for d in head]
    rows += [[f"{d} (jit)"] + [_common.format_ulp(jit[d][m][q]) for m, q in cols] for d in jit]
    torch = accuracy["torch_threshold_rule"]
    at = torch["at_x_20_1_beta_1"]
    worst_beta, worst = max(torch["per_beta"].items(), key=lambda kv: kv[1]["value_max_abs"])
    worst_abs = worst["value_max_abs"]
    worst_rel = max(r["value_max_rel"] for r in torch["per_beta"].values())
    lines = [
        "## accuracy_report.py: max ulp error against 50-digit mpmath",
        "",
        f"x in +-[1e-6, 3e3] log-spaced ({accuracy['grid']['total_points']} "
        "points with 0), beta in {0.05, 0.3, 1, 7, 50}, inputs rounded to "
        "the dtype. Max over the five betas; float16/bfloat16 in ulps from "
        "the correctly rounded result (0 = correctly rounded everywhere). "
        "builtin = `tf.nn.softplus(B*x)/B` with B a constant (value and "
        "d/dx only); inf = NaN or overflow where the exact result is finite "
        "(e.g. float16 `beta*x` overflowing at beta = 50).",
        "",
        markdown_table(["dtype"] + [f"{m} {q}" for m, q in cols], rows),
        "",
        "Per-beta tables: `accuracy.md`. Per-x errors: `accuracy_errors.npz` "
        "(format in `accuracy.json`, key `per_x_errors_format`).",
        "",
        "PyTorch's threshold rule (softplus(x) = x and gradient 1 where "
        "beta*x > 20), float64 from the formula, over beta*x in [10, 40]: "
        f"max absolute value error {worst_abs:.2e} (beta = {worst_beta}, x = "
        f"{worst['value_max_abs_at_x']:.4g}: the dropped term "
        "log1p(exp(-beta*x))/beta grows as beta shrinks), max relative "
        f"{worst_rel:.2e}; at beta = 1, "
        f"x = 20.1: {at['value_abs_error']:.2e} absolute "
        f"({at['value_rel_error']:.1e} relative), gradient off by "
        f"{at['dx_abs_error']:.2e}. Ours on the same grid: "
        + ", ".join(f"{_common.format_ulp(r['ours_value_max_ulp'])}" for r in torch["per_beta"].values())
        + " ulp (value, per beta).",
        "",
    ]
    return lines


def overview(ops, model, memory, directory):
    rows = []
    if ops:
        history = _history(directory, "bench_ops", _kernel(ops))
        for name, v in ops["targets"].items():
            rows.append(["bench_ops", f"{v['ratio_name']} (jit, {v['size']})",
                         f"{v['measured']:.2f}", v["target"], _met(v["met"]),
                         _runs(history, name)])
    if model:
        history = _history(directory, "bench_model", _kernel(model))
        for name, v in model["targets"].items():
            rows.append(["bench_model", f"{v['ratio_name']} ({v['config']})",
                         f"{v['measured']:.3f}", v["target"], _met(v["met"]),
                         _runs(history, name, 3)])
    if memory:
        for k, v in memory["targets"].items():
            rows.append(["bench_memory", k, f"{v['measured']:.2f}", v["target"],
                         _met(v["met"]), "-"])
    if not rows:
        return []
    return ["## Targets at a glance", "",
            markdown_table(["benchmark", "target", "measured", "bound", "verdict",
                            "all full runs of this kernel (oldest first)"], rows),
            ""]


def main(directory=None):
    directory = directory or os.path.join(BENCH_DIR, "results")
    ops = _load(directory, "ops.json")
    model = _load(directory, "model.json")
    memory = _load(directory, "memory.json")
    accuracy = _load(directory, "accuracy.json")
    quick = any(r and r.get("quick") for r in (ops, model, memory, accuracy))
    lines = ["# Benchmark summary", ""]
    if quick:
        lines += ["**Quick (smoke) run: tiny sizes, not the committed figures.**", ""]
    lines += [
        "Generated by `benchmarks/make_summary.py` from the JSON files next "
        "to this one; see `benchmarks/README.md` to rerun.",
        "",
    ]
    lines += machine_section([ops, model, memory, accuracy])
    lines += overview(ops, model, memory, directory)
    lines += ops_section(ops, directory)
    lines += model_section(model, directory, ops)
    lines += memory_section(memory, ops)
    lines += accuracy_section(accuracy, directory)
    path = os.path.join(directory, "SUMMARY.md")
    with open(path, "w") as handle:
        handle.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {os.path.relpath(path, os.path.dirname(BENCH_DIR))}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
