"""Quick runs of the distribution-head examples, as a user runs them.

Each example is copied into an empty folder and run with `--quick`; it must
print its comparison table and write its figure beside itself.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, folder):
    script = shutil.copy(os.path.join(ROOT, "examples", name), folder)
    completed = subprocess.run(
        [sys.executable, script, "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg"),
        cwd=folder,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout


@pytest.mark.slow
def test_count_regression_compares_poisson_and_negative_binomial(tmp_path):
    pytest.importorskip("statsmodels")
    output = run_example("count_regression.py", tmp_path)
    rows = re.findall(
        r"^(Poisson|negative binomial) +(\d+\.\d+) +(\d+\.\d+)$", output, re.M
    )
    assert {row[0] for row in rows} == {"Poisson", "negative binomial"}
    assert (tmp_path / "output" / "count_regression.png").stat().st_size > 0


@pytest.mark.slow
def test_robust_regression_compares_student_t_and_normal(tmp_path):
    output = run_example("robust_regression.py", tmp_path)
    assert "Normal " in output and "Student-t " in output
    assert (tmp_path / "output" / "robust_regression.png").stat().st_size > 0
