"""One source for every figure: the committed benchmark results.

The docs pages and the README quote speed and accuracy figures. Each comes
from `benchmarks/results/*.json` through `figures()`:

- in a docs page, `{{ name }}` is replaced at build time by `figures()[name]`
  (an unknown name fails the build);
- in README.md, the block between `<!-- figures -->` and `<!-- /figures -->`
  is `readme_block()`, docs/snippets/readme-figures.md filled in;
  `python docs/hooks.py` rewrites it, and tests/test_docs.py checks that the
  committed block is current.
"""

import json
import os
import re
import sys

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(DOCS_DIR)
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results")
README = os.path.join(REPO_ROOT, "README.md")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
README_BLOCK = re.compile(r"(<!-- figures -->\n).*?(<!-- /figures -->)", re.DOTALL)


def _load(name):
    with open(os.path.join(RESULTS, f"{name}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _ratio(value):
    return f"{value:.2f}"


def _spread(entry):
    """`median (q1-q3)` of a ratio entry of the benchmark JSON."""
    return f"{entry['ratio']:.2f} ({entry['ratio_q1']:.2f}-{entry['ratio_q3']:.2f})"


def _ulp(value):
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def figures():
    """Every quoted figure, by name, as the text a page shows."""
    ops, model, accuracy = _load("ops"), _load("model"), _load("accuracy")
    found = {}
    # Accuracy: the worst error of ours over the grid, eager and under XLA.
    headlines = [accuracy["headline_max_ulp_eager"], accuracy["headline_max_ulp_jit"]]
    for quantity in ("value", "dx", "dbeta"):
        found[f"ulp_{quantity}"] = _ulp(
            max(
                h[d]["ours"][quantity]
                for h in headlines
                for d in ("float32", "float64")
            )
        )
    found["ulp_low_precision"] = _ulp(
        max(
            value
            for h in headlines
            for d in ("float16", "bfloat16")
            for value in h[d]["ours"].values()
        )
    )
    found["ulp_naive_float32"] = (
        f"{accuracy['headline_max_ulp_eager']['float32']['naive']['value']:.0e}"
    )
    found["accuracy_betas"] = ", ".join(f"{b:g}" for b in accuracy["betas"])
    # The fused op against the built-in, per mode and size.
    for size, by_mode in ops["results"].items():
        for mode, entry in by_mode.items():
            ratios, times = entry["ratios"], entry["times"]
            key = f"{mode}_{size}".lower()
            found[f"ops_learned_{key}"] = _spread(ratios["ours / builtin"])
            found[f"ops_fixed_{key}"] = _spread(ratios["ours_fixed / builtin"])
            found[f"ops_naive_{key}"] = _ratio(
                times["naive"]["median_s"] / times["builtin"]["median_s"]
            )
            found[f"ops_naive_vs_ours_{key}"] = _spread(ratios["naive / ours"])
    found.update(_step_figures(model))
    found.update(_other_backend_figures(ops["extra"]))
    extra = ops["extra"]
    dispatch = extra["eager_dispatch_1k"]["ratios"]["ours / builtin"]
    found["eager_dispatch_1k"] = f"{dispatch:.0f}"
    found["machine"] = (
        f"{ops['machine']['cpu_model']}, {ops['machine']['cpu_count']} cores, "
        f"TensorFlow {ops['machine']['tensorflow']}"
    )
    found["model_machine"] = (
        f"{model['machine']['cpu_model']}, {model['machine']['cpu_count']} cores"
    )
    return found


class StaleResults(RuntimeError):
    """A results file lacks what the pages quote: rerun its benchmark."""


STEP_BACKENDS = ("tensorflow", "jax", "torch")
STEP_NAMES = ("beta_softplus", "beta_fixed", "naive_beta")


def _step_figures(model):
    """A training step against the same model with Keras' softplus.

    Per backend and config (`no_jit`, `jit`, `conv_no_jit`, `conv_jit`):
    `step_<name>_<backend>_<config>` for `<name> / softplus`, and
    `step_beta_vs_naive_<backend>_<config>` for `beta_softplus / naive_beta`;
    `step_<name>_<backend>` and `step_<name>_<backend>_conv` (and the same
    for `beta_vs_naive`) are Keras' default `jit_compile` on that backend.
    TensorFlow's are also `step_<name>_<config>`.
    """
    backends = model.get("backends", {})
    missing = [b for b in STEP_BACKENDS if not backends.get(b, {}).get("results")]
    if missing:
        raise StaleResults(
            f"benchmarks/results/model.json has no training-step results for "
            f"{', '.join(missing)}: run `python benchmarks/bench_model.py` "
            "(all backends; see docs/benchmarks/summary.md)"
        )
    found = {}
    for backend in STEP_BACKENDS:
        measured = backends[backend]
        default = "jit" if measured["keras_default_jit_compile"] else "no_jit"
        aliases = {default: "", f"conv_{default}": "_conv"}
        for config, entry in measured["results"].items():
            ratios = {
                name: _spread(entry["ratios"][f"{name} / softplus"])
                for name in STEP_NAMES
            }
            ratios["beta_vs_naive"] = _spread(
                entry["ratios"]["beta_softplus / naive_beta"]
            )
            for name, text in ratios.items():
                found[f"step_{name}_{backend}_{config}"] = text
                if config in aliases:
                    found[f"step_{name}_{backend}{aliases[config]}"] = text
                if backend == "tensorflow":
                    found[f"step_{name}_{config}"] = text
    return found


def _other_backend_figures(extra):
    """The op on JAX and PyTorch, from `bench_ops`' fresh processes.

    `backend_<backend>_<size>`: ours / builtin; `backend_naive_...`: naive /
    ours; `backend_fixed_...`: ours_fixed / builtin; in the realistic form
    (forward writes y, backward reads an upstream dy), and with `_summed`
    for the gradient of the sum.
    """
    found = {}
    for backend, entry in extra["other_backends"].items():
        name = backend.replace("@", "_").replace(".", "_").lower()
        if "error" in entry:
            continue
        if "realistic" not in entry:
            raise StaleResults(
                "benchmarks/results/ops.json has no realistic form for the "
                "other backends: run `python benchmarks/bench_ops.py`"
            )
        for form, suffix in (("realistic", ""), ("summed", "_summed")):
            ratios = entry[form]
            found[f"backend_{name}{suffix}"] = _ratio(ratios["ours / builtin"])
            found[f"backend_naive_{name}{suffix}"] = _ratio(ratios["naive / ours"])
            found[f"backend_fixed_{name}{suffix}"] = _ratio(
                ratios["ours_fixed / builtin"]
            )
    return found


def render(text, values=None):
    """`text` with every `{{ name }}` replaced; an unknown name raises KeyError."""
    values = figures() if values is None else values

    def replace(match):
        name = match.group(1)
        if name not in values:
            raise KeyError(
                f"no figure named {name!r} (see docs/hooks.py; a config that "
                "failed in a benchmark is listed under `failed` in its JSON)"
            )
        return values[name]

    return PLACEHOLDER.sub(replace, text)


# The README block, with `{{ name }}` placeholders.
README_TEMPLATE = os.path.join(DOCS_DIR, "snippets", "readme-figures.md")


def readme_block():
    """The generated part of the README's "Accuracy and speed" section."""
    with open(README_TEMPLATE, encoding="utf-8") as handle:
        return render(handle.read())


def update_readme(path=README):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not README_BLOCK.search(text):
        raise SystemExit(f"{path} has no <!-- figures --> block")
    updated = README_BLOCK.sub(
        lambda match: match.group(1) + readme_block() + match.group(2), text
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(updated)


# A page includes a generated results table with this line.
RESULTS_INCLUDE = re.compile(
    r'^--8<-- "(benchmarks/results/[\w.-]+\.md)"$', re.MULTILINE
)
# `*` between two word characters (`beta*x`), which Markdown would read as emphasis.
BARE_ASTERISK = re.compile(r"(?<=\w)\*(?=\w)")


def _escape_asterisks(text):
    """`text` with the bare asterisks of its prose escaped, code spans untouched."""
    parts = text.split("`")
    parts[::2] = [BARE_ASTERISK.sub(r"\\*", part) for part in parts[::2]]
    return "`".join(parts)


def _include_results(match):
    with open(os.path.join(REPO_ROOT, match.group(1)), encoding="utf-8") as handle:
        return "\n".join(_escape_asterisks(line) for line in handle.read().splitlines())


def on_page_markdown(markdown, page, config, files):
    """mkdocs hook: includes the results tables and fills in the figures."""
    return render(RESULTS_INCLUDE.sub(_include_results, markdown))


if __name__ == "__main__":
    update_readme()
    sys.exit(0)
