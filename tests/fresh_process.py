"""Runs Python code in a fresh interpreter, as a user's next session would."""

import os
import subprocess
import sys
import textwrap


def run_python(code, *args, timeout=300, cwd=None, **variables):
    """Runs `code` with this interpreter in a new process; returns stdout.

    `args` become the child's `sys.argv[1:]`, `cwd` its working folder, and
    `variables` are set in its environment (`KERAS_BACKEND="jax"`).
    Fails the calling test with the child's stderr when the child fails.
    """
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **variables)
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=cwd,
    )
    if completed.returncode != 0:
        code, stderr = completed.returncode, completed.stderr[-6000:]
        raise AssertionError(f"child process failed ({code}):\n{stderr}")
    return completed.stdout
