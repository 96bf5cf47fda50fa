"""The tree is clean under ruff, lint and format, as configured in pyproject."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "arguments", [["check"], ["format", "--check"]], ids=["lint", "format"]
)
def test_ruff_is_clean(arguments):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
