"""The examples: data generators, metric helpers, quick runs, notebooks."""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
NOTEBOOKS = os.path.join(EXAMPLES, "notebooks")
sys.path.insert(0, EXAMPLES)

import heteroscedastic_regression as hr  # noqa: E402

# Closed forms for the TFP tutorial generator, t = (x + 20)/80 ~ U[0, 1]:
# E log(0.25 + t^2) = log(1.25) - 2 + arctan(2); E (0.25 + t^2)^2 = 0.0625 + 1/6 + 1/5.
OPTIMAL_NLL = 0.5 * math.log(2 * math.pi) + math.log(3) + (
    math.log(1.25) - 2 + math.atan(2)) + 0.5
CONSTANT_NLL = 0.5 * math.log(2 * math.pi * 9 * (0.0625 + 1 / 6 + 1 / 5)) + 0.5


def _run_script(args, timeout=240):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    completed = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout,
        env=environment, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout


# ---------------------------------------------------------------- data


def test_generator_shapes_and_independent_test_draw():
    data = hr.make_dataset("tfp-synthetic", seed=3, n_test=500)
    assert data.x_train.shape == (150, 1) and data.y_train.shape == (150,)
    assert data.x_test.shape == (500, 1) and data.y_test.shape == (500,)
    assert data.x_train.min() >= -20 and data.x_train.max() <= 60
    assert not np.intersect1d(data.x_train[:, 0], data.x_test[:, 0]).size
    again = hr.make_dataset("tfp-synthetic", seed=3, n_test=500)
    np.testing.assert_array_equal(again.y_train, data.y_train)
    other = hr.make_dataset("tfp-synthetic", seed=4, n_test=500)
    assert not np.allclose(other.y_train, data.y_train)


def test_generator_follows_its_mean_and_scale():
    generator = hr.GENERATORS["tfp-synthetic"]
    x, y = generator.sample(200_000, np.random.default_rng(0))
    z = (y - generator.mean(x[:, 0])) / generator.scale(x[:, 0])
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    # The tutorial's formulas, spelled out.
    assert generator.mean(np.array([10.0]))[0] == pytest.approx(0.125 * 10 * (1 + math.sin(10)) + 5)
    assert generator.scale(np.array([-20.0, 60.0])) == pytest.approx([0.75, 3.75])


def test_reference_nlls_match_closed_forms():
    optimal, constant = hr.reference_nlls(hr.GENERATORS["tfp-synthetic"])
    assert optimal == pytest.approx(OPTIMAL_NLL, abs=1e-9)
    assert constant == pytest.approx(CONSTANT_NLL, abs=1e-9)
    assert optimal == pytest.approx(1.848, abs=5e-4)
    assert constant == pytest.approx(2.095, abs=5e-4)


def test_reference_nlls_match_monte_carlo():
    generator = hr.GENERATORS["tfp-synthetic"]
    x, y = generator.sample(400_000, np.random.default_rng(1))
    mean, scale = generator.mean(x[:, 0]), generator.scale(x[:, 0])
    optimal, constant = hr.reference_nlls(generator)
    mc_optimal = -np.mean(hr.mixture_log_prob(y, mean, scale))
    sigma = math.sqrt(np.mean(scale**2))
    mc_constant = -np.mean(hr.mixture_log_prob(y, mean, np.full_like(mean, sigma)))
    assert mc_optimal == pytest.approx(optimal, abs=0.01)
    assert mc_constant == pytest.approx(constant, abs=0.01)


def test_boston_csv_loads_offline():
    x, y, features = hr.load_boston_table()
    assert x.shape == (506, 13) and y.shape == (506,)
    assert "black" in features and "medv" not in features
    assert y.min() == 5.0 and y.max() == 50.0
    x_no_b, _, features_no_b = hr.load_boston_table(drop_b=True)
    assert x_no_b.shape == (506, 12) and "black" not in features_no_b


def test_member_splits_are_k_fold():
    splits = hr.member_splits(150, 5, 0.2, seed=0)
    validation = np.concatenate([val for _, val in splits])
    assert sorted(validation) == list(range(150))
    for train, val in splits:
        assert len(val) == 30 and not np.intersect1d(train, val).size
    ((train, val),) = hr.member_splits(150, 1, 0.2, seed=0)
    assert len(val) == 30 and len(train) == 120


# ---------------------------------------------------------------- metrics


def test_coverage_and_calibration_of_a_calibrated_normal():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(200_000)
    loc, scale = np.zeros_like(y), np.ones_like(y)
    metrics = hr.evaluate(y, loc, scale)
    assert metrics["cov68"] == pytest.approx(0.68, abs=0.005)
    assert metrics["cov95"] == pytest.approx(0.95, abs=0.005)
    assert metrics["width95"] == pytest.approx(2 * 1.959964, rel=1e-6)
    assert metrics["mace"] < 0.005
    assert metrics["nll"] == pytest.approx(0.5 * math.log(2 * math.pi) + 0.5, abs=0.01)
    # E_y CRPS(N(0, 1), y) for y ~ N(0, 1) is 1/sqrt(pi); at y = 0 it is (sqrt(2) - 1)/sqrt(pi).
    assert metrics["crps"] == pytest.approx(1 / math.sqrt(math.pi), abs=0.005)
    assert hr.crps_normal(0.0, 0.0, 1.0) == pytest.approx((math.sqrt(2) - 1) / math.sqrt(math.pi))


def test_coverage_of_a_too_wide_normal():
    """Predicting N(0, 2^2) for N(0, 1) data: the 68% interval holds P(|Z| < 2*0.994)."""
    rng = np.random.default_rng(1)
    y = rng.standard_normal(200_000)
    lower, upper = hr.central_interval(0.68, np.zeros_like(y), 2 * np.ones_like(y))
    expected = math.erf(2 * 0.9944578832 / math.sqrt(2))
    assert hr.interval_coverage(y, lower, upper) == pytest.approx(expected, abs=0.005)
    observed = hr.calibration_curve(y, np.zeros_like(y), 2 * np.ones_like(y))
    levels = hr.CALIBRATION_LEVELS
    from scipy import special

    exact = np.array([math.erf(2 * special.ndtri(0.5 + p / 2) / math.sqrt(2)) for p in levels])
    np.testing.assert_allclose(observed, exact, atol=0.005)
    assert hr.mean_abs_calibration_error(y, 0.0, 2.0) == pytest.approx(
        np.mean(np.abs(exact - levels)), abs=0.005)


def _crps_numeric(y, cdf, low=-60.0, high=60.0, n=200_001):
    """`integral (F(t) - 1{t >= y})**2 dt`, split at the step, trapezoidal."""
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    left = np.linspace(low, y, n)
    right = np.linspace(y, high, n)
    return trapezoid(cdf(left) ** 2, left) + trapezoid((1 - cdf(right)) ** 2, right)


@pytest.mark.parametrize("y, loc, scale", [(0.3, 0.0, 1.0), (-2.5, 1.0, 0.5), (7.0, 2.0, 3.0)])
def test_crps_normal_matches_numeric_integration(y, loc, scale):
    from scipy import special

    numeric = _crps_numeric(y, lambda t: special.ndtr((t - loc) / scale))
    assert hr.crps_normal(y, loc, scale) == pytest.approx(numeric, abs=1e-6)


def test_crps_mixture_matches_numeric_integration():
    locs = np.array([[-1.0], [0.5], [3.0]])
    scales = np.array([[0.4], [1.0], [2.0]])
    for y in (-2.0, 0.7, 4.0):
        numeric = _crps_numeric(y, lambda t: hr.mixture_cdf(t, locs, scales))
        assert hr.crps_mixture(np.array([y]), locs, scales)[0] == pytest.approx(numeric, abs=1e-6)


def test_mixture_quantile_inverts_the_cdf_and_moments():
    locs = np.array([[-1.0, 0.0], [2.0, 0.0]])
    scales = np.array([[0.5, 1.0], [1.0, 1.0]])
    for p in (0.025, 0.16, 0.5, 0.84, 0.975):
        q = hr.mixture_quantile(p, locs, scales)
        np.testing.assert_allclose(hr.mixture_cdf(q, locs, scales), p, atol=1e-9)
    mean, std = hr.mixture_mean_std(locs, scales)
    np.testing.assert_allclose(mean, [0.5, 0.0])
    np.testing.assert_allclose(std, [math.sqrt((0.25 + 1 + 1 + 4) / 2 - 0.25), 1.0])


def test_mixture_log_prob_of_one_member_is_the_normal():
    y = np.array([0.0, 1.0, -3.0])
    expected = -0.5 * math.log(2 * math.pi) - np.log(2.0) - 0.5 * ((y - 1.0) / 2.0) ** 2
    np.testing.assert_allclose(hr.mixture_log_prob(y, np.ones(3), 2 * np.ones(3)), expected)
    twice = hr.mixture_log_prob(y, np.ones((2, 3)), 2 * np.ones((2, 3)))
    np.testing.assert_allclose(twice, expected)


def test_format_table_lists_every_column():
    table = hr.format_table([("a model", hr.evaluate([0.0, 1.0], [0.0, 1.0], [1.0, 1.0]), "note")])
    for label in ("NLL", "RMSE", "CRPS", "cov68", "width68", "cov95", "width95", "MACE"):
        assert label in table
    assert "a model" in table and "note" in table


# ---------------------------------------------------------------- scripts


def test_heteroscedastic_regression_quick(tmp_path):
    out = _run_script(["examples/heteroscedastic_regression.py", "--quick", "--out", str(tmp_path)])
    assert "Test metrics" in out
    for row in ("constant variance (MSE)", "TFP tutorial head", "ours, single network",
                "ours, ensemble of 2", "truth: true mean and sigma(x)"):
        assert row in out
    assert "1.848" in out and "2.095" in out
    paths = re.findall(r"^(?:Fit|Calibration) plot: (.+\.png)$", out, re.MULTILINE)
    assert len(paths) == 2
    for path in paths:
        assert os.path.isfile(path) and os.path.getsize(path) > 10_000
        assert os.path.dirname(path) == str(tmp_path)


def test_heteroscedastic_regression_quick_tabular_beta_nll(tmp_path):
    out = _run_script(["examples/heteroscedastic_regression.py", "--quick", "--dataset", "boston",
                       "--beta-nll", "0.5", "--ensemble", "1", "--out", str(tmp_path)])
    assert "ethically problematic" in out and "without B" in out
    assert "ours, single network" in out and "ensemble of" not in out
    assert (tmp_path / "boston-quick_fit.png").is_file()
    assert (tmp_path / "boston-quick_calibration.png").is_file()


def test_uci_benchmark_quick(tmp_path):
    markdown = tmp_path / "uci.md"
    out = _run_script(["examples/uci_benchmark.py", "--quick", "--markdown", str(markdown)])
    assert "ethically problematic" in out
    for title in ("all 13 features (with B)", "12 features, without B", "Diabetes"):
        assert title in out
    assert "Deep Ensembles (M=5)" in out and "NGBoost" in out
    assert f"Results table: {markdown}" in out
    text = markdown.read_text()
    assert "python examples/uci_benchmark.py --quick" in text
    assert text.count("| ours, ensemble M=5") == 3


def test_command_line_rejects_bad_flags():
    with pytest.raises(SystemExit):
        hr.parse_args(["--dataset", "mnist"])
    with pytest.raises(SystemExit):
        hr.parse_args(["--beta-nll", "2"])
    args = hr.parse_args(["--dataset", "cubic", "--ensemble", "3", "--epochs", "7"])
    assert (args.dataset, args.ensemble, args.epochs) == ("cubic", 3, 7)


# ---------------------------------------------------------------- notebooks


@pytest.mark.parametrize("name", ["heteroscedastic_regression.ipynb", "beta_softplus_tour.ipynb"])
def test_notebook_executes(name, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = os.path.join(NOTEBOOKS, name)
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # committed with outputs cleared
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, name
    monkeypatch.setenv("KERAS_SOFTPLUS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The kernel runs this interpreter, whichever "python3" kernel spec is found.
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.kernel_spec.argv[0] = sys.executable
    client = nbclient.NotebookClient(
        notebook, km=manager, timeout=180, kernel_name="python3",
        resources={"metadata": {"path": NOTEBOOKS}},
    )
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
