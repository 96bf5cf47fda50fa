"""The flagship example and the UCI benchmark harness.

The example is run as a user runs it (a copy in an empty folder, so it reads
no repository file); nothing imports it. The harness in benchmarks/uci/ is
imported for its unit tests and run once in its quick mode.
"""

import ast
import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGSHIP = os.path.join(ROOT, "examples", "heteroscedastic_regression.py")
UCI = os.path.join(ROOT, "benchmarks", "uci", "uci_benchmark.py")

# Closed forms for the TFP tutorial's generator, t = (x + 20)/80 ~ U[0, 1]:
# E log(0.25 + t^2) = log(1.25) - 2 + arctan(2); E (0.25 + t^2)^2 = 0.0625 + 1/6 + 1/5.
OPTIMAL_NLL = (
    0.5 * math.log(2 * math.pi)
    + math.log(3)
    + (math.log(1.25) - 2 + math.atan(2))
    + 0.5
)
CONSTANT_NLL = 0.5 * math.log(2 * math.pi * 9 * (0.0625 + 1 / 6 + 1 / 5)) + 0.5


def _run(args, cwd, timeout=300):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    completed = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=cwd,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout


def _load_uci():
    spec = importlib.util.spec_from_file_location("uci_benchmark", UCI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- structure


def test_flagship_is_a_short_top_to_bottom_script():
    with open(FLAGSHIP) as f:
        source = f.read()
    assert len(source.splitlines()) <= 250
    ast.parse(source)
    # Prose and code in cells of jupytext's percent format, which the docs'
    # page of the example is built from.
    assert source.startswith("# %% [markdown]\n# # ")
    assert source.count("# %% [markdown]") >= 5
    # No command-line interface beyond --quick, and no forced plot backend.
    assert "argparse" not in source and "matplotlib.use" not in source
    assert set(re.findall(r"--[a-z][a-z-]*", source)) == {"--quick"}
    for name in (
        "keras.Sequential",
        "BetaSoftplus",
        "NormalHead",
        "NormalNLL",
        ".compile(",
        ".fit(",
        "as_mixture",
        "as_normal",
    ):
        assert name in source, name


def _python_files():
    for folder in ("keras_softplus", "benchmarks", "examples", "tests", "docs"):
        for base, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                if name.endswith((".py", ".ipynb")):
                    yield os.path.join(base, name)


def test_nothing_imports_an_example_script():
    examples = {
        n[:-3] for n in os.listdir(os.path.join(ROOT, "examples")) if n.endswith(".py")
    }
    offenders = []
    for path in _python_files():
        with open(path) as f:
            text = f.read()
        for name in examples:
            if re.search(rf"^\s*(from|import)\s+{name}\b", text, re.MULTILINE):
                offenders.append((path, name))
        loads = r"(sys\.path\.(insert|append)|spec_from_file_location)\([^\n]*examples"
        if re.search(loads, text) and path != __file__:
            offenders.append((path, "loads a file from examples/"))
    assert not offenders


# ---------------------------------------------------------------- the flagship


@pytest.mark.slow
def test_flagship_quick_run(tmp_path):
    script = shutil.copy(FLAGSHIP, tmp_path)
    out = _run([script, "--quick"], cwd=tmp_path)
    assert f"{OPTIMAL_NLL:.3f}" == "1.848" and f"{CONSTANT_NLL:.3f}" == "2.095"
    assert re.search(r"^best achievable\s+1\.848 ", out, re.MULTILINE)
    assert re.search(r"^best constant sigma\s+2\.095 ", out, re.MULTILINE)
    rows = {}
    for line in out.splitlines():
        match = re.match(
            r"^(constant variance|single network|ensemble of 5|truth)\s+"
            r"([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+([\d.]+)$",
            line,
        )
        if match:
            rows[match[1]] = [float(v) for v in match.groups()[1:]]
    assert set(rows) == {
        "constant variance",
        "single network",
        "ensemble of 5",
        "truth",
    }
    # The truth's NLL on the test draw is close to its expectation, and is calibrated.
    assert rows["truth"][0] == pytest.approx(OPTIMAL_NLL, abs=0.05)
    assert rows["truth"][3] < 0.03
    # Keras' own progress bar, at the default verbosity.
    assert "Epoch 1/2" in out and "step" in out
    (plot,) = re.findall(r"^Plots: (.+\.png)$", out, re.MULTILINE)
    assert plot == str(tmp_path / "output" / "heteroscedastic_regression.png")
    assert os.path.getsize(plot) > 20_000


# ---------------------------------------------------------------- the harness


def test_boston_loads_offline_with_and_without_b():
    uci = _load_uci()
    x, y = uci.load_dataset("boston")
    assert x.shape == (506, 13) and y.shape == (506,)
    assert y.min() == 5.0 and y.max() == 50.0
    assert uci.load_dataset("boston-without-b")[0].shape == (506, 12)
    assert uci.load_dataset("diabetes")[0].shape == (442, 10)


def test_ols_baseline_and_mixture_scores():
    from scipy import stats

    uci = _load_uci()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 3))
    y = x @ [1.0, -2.0, 0.5] + 3.0 + 0.7 * rng.standard_normal(2000)
    outputs = uci.ols_split(x[:1500], y[:1500], x[1500:])
    assert outputs.shape == (1, 500, 2)
    assert outputs[0, :, 1] == pytest.approx(0.7, rel=0.05)
    nll, rmse = uci.nll_rmse(y[1500:], outputs)
    expected = -np.mean(stats.norm.logpdf(y[1500:], outputs[0, :, 0], outputs[0, :, 1]))
    assert nll == pytest.approx(expected, rel=1e-5)
    assert rmse == pytest.approx(0.7, rel=0.1)
    # A mixture of two identical members is that member.
    twice = uci.nll_rmse(y[1500:], np.concatenate([outputs, outputs]))
    assert twice == pytest.approx((nll, rmse), rel=1e-5)


@pytest.mark.slow
def test_uci_benchmark_quick(tmp_path):
    markdown = tmp_path / "uci.md"
    out = _run(
        [UCI, "--quick", "--datasets", "boston", "--markdown", str(markdown)],
        cwd=tmp_path,
    )
    assert "all 13 features (with B)" in out
    text = markdown.read_text()
    assert "python benchmarks/uci/uci_benchmark.py --quick" in text
    assert text.count("| ours, ensemble M=5") == 1
    assert "Deep Ensembles (M=5)" in text and "ethically problematic" in text
    nlls = [
        float(v) for v in re.findall(r"\| ([\d.]+) ± [\d.]+ \|$", text, re.MULTILINE)
    ]
    assert len(nlls) == 4 and all(np.isfinite(nlls))


def test_committed_uci_results_speak_to_users():
    with open(os.path.join(ROOT, "benchmarks", "uci", "results.md")) as f:
        text = f.read()
    assert "python benchmarks/uci/uci_benchmark.py" in text
    for word in ("target", "not met", "verdict", "this session"):
        assert word not in text.lower(), word
