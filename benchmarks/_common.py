"""Shared helpers of the benchmark scripts: the machine record, the one
timing helper (round-robin rounds, median of per-round ratios), results
files and tables.

The scripts in this folder import it as a sibling (`python
benchmarks/<script>.py` puts this folder on `sys.path`); it puts tests/ there
too, so that the scripts share the tests' inputs (`input_grids`: BETAS,
seeded inputs) and 50-digit reference (`mpmath_reference`).
"""

import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.append(os.path.join(REPO_ROOT, "tests"))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def results_dir(quick):
    """`benchmarks/results/`, or `benchmarks/results/quick/` for smoke runs
    (ignored by git, so quick numbers never replace the committed ones)."""
    path = os.path.join(BENCH_DIR, "results", "quick" if quick else "")
    os.makedirs(path, exist_ok=True)
    return path


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args):
    import subprocess

    try:
        return subprocess.run(
            ["git", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.rstrip("\n")
    except (OSError, subprocess.SubprocessError):
        return None


KERNEL_FILE = os.path.join("ops", "_kernel.py")


def code_state():
    """The package code that was measured.

    The tree is shared with other work, so this records the package that was
    actually imported (its folder, which may be an export of a commit put
    first on PYTHONPATH), which of its files differ from HEAD, and the git
    blob hash of its `ops/_kernel.py`, the kernel the benchmarks measure.
    """
    import keras_softplus

    package_dir = os.path.dirname(os.path.abspath(keras_softplus.__file__))
    paths = sorted(
        os.path.join(root, name)
        for root, _, files in os.walk(package_dir)
        for name in files
        if name.endswith(".py")
    )
    hashes = (_git("hash-object", "--", *paths) or "").splitlines()
    imported = {
        os.path.relpath(path, package_dir): blob
        for path, blob in zip(paths, hashes, strict=False)
    }
    listing = _git("ls-tree", "-r", "HEAD", "--", "keras_softplus/") or ""
    at_head = {}
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".py"):
            at_head[os.path.relpath(path, "keras_softplus")] = meta.split()[2]
    differing = sorted(
        name
        for name in set(imported) | set(at_head)
        if imported.get(name) != at_head.get(name)
    )
    return {
        "git_head": _git("rev-parse", "HEAD"),
        "package_dir": package_dir,
        "package_files_differing_from_head": differing,
        "package_matches_head": not differing,
        "kernel_blob": imported.get(KERNEL_FILE),
    }


def machine_info():
    """Platform, CPU, core count, library versions and the device used."""
    import keras
    import numpy as np
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "device": "GPU" if gpus else "CPU",
        "gpus": [gpu.name for gpu in gpus],
        "load_average_at_start": load,
        "shared_machine_note": (
            "CPU cores shared with other jobs while measuring; absolute "
            "times are noisy, ratios come from interleaved candidates."
        ),
        "code": code_state(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


def interleaved_times(candidates, repetitions, inner=1, warmup=2):
    """Times each callable round-robin: one call of each per round.

    Args:
        candidates: dict name -> zero-argument callable that blocks until its
            result is computed (true of TensorFlow on CPU).
        repetitions: number of rounds.
        inner: calls per timed sample; the sample is their mean.
        warmup: untimed rounds first (tracing, XLA compilation, caches).

    Returns:
        dict name -> list of seconds per call, one entry per round, so that
        entry `i` of two candidates were measured next to each other.
    """
    for _ in range(warmup):
        for function in candidates.values():
            function()
    times = {name: [] for name in candidates}
    names = list(candidates)
    for round_index in range(repetitions):
        # Rotate the order, so no candidate always runs first after a pause.
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            function = candidates[name]
            start = time.perf_counter()
            for _ in range(inner):
                function()
            times[name].append((time.perf_counter() - start) / inner)
    return times


def summarize(samples):
    """Median and quartiles of a list of seconds."""
    ordered = sorted(samples)
    quartiles = (
        statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    )
    return {
        "median_s": statistics.median(ordered),
        "q1_s": quartiles[0],
        "q3_s": quartiles[2],
        "min_s": ordered[0],
        "n": len(ordered),
    }


def paired_ratio(numerator, denominator):
    """Ratio of two candidates from the same rounds.

    `ratio` is the median of the per-round ratios (robust to load that
    changes between rounds); `ratio_of_medians` and the quartiles of the
    per-round ratios are given too.
    """
    per_round = [a / b for a, b in zip(numerator, denominator, strict=True)]
    quartiles = (
        statistics.quantiles(per_round, n=4)
        if len(per_round) > 1
        else [per_round[0]] * 3
    )
    return {
        "ratio": statistics.median(per_round),
        "ratio_q1": quartiles[0],
        "ratio_q3": quartiles[2],
        "ratio_of_medians": statistics.median(numerator)
        / statistics.median(denominator),
    }


def compare(calls, repetitions, ratios=(), inner=1, warmup=2):
    """The timing helper: times `calls` round-robin and pairs their rounds.

    Args:
        calls: dict name -> zero-argument callable that blocks until done.
        repetitions, inner, warmup: as in `interleaved_times`.
        ratios: `(numerator, denominator)` name pairs.

    Returns:
        `{"times": {name: summarize(...)}, "ratios": {"a / b": paired_ratio}}`.
    """
    times = interleaved_times(calls, repetitions, inner=inner, warmup=warmup)
    return {
        "times": {name: summarize(t) for name, t in times.items()},
        "ratios": {f"{a} / {b}": paired_ratio(times[a], times[b]) for a, b in ratios},
    }


def print_machine(machine):
    print(
        f"machine: {machine['cpu_model']} x{machine['cpu_count']}, "
        f"TF {machine['tensorflow']}, Keras {machine['keras']}, "
        f"device {machine['device']}"
    )


def write_json(path, payload):
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=1, sort_keys=False, default=_jsonable)
        handle.write("\n")
    print(f"wrote {os.path.relpath(path, REPO_ROOT)}")


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value)}")


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def format_ulp(value):
    """An ulp error for a table: `-` if unmeasured, `inf` if not finite."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf"
    if value == 0:
        return "0"
    if value < 10:
        return f"{value:.2g}"
    if value < 1e4:
        return f"{value:.0f}"
    return f"{value:.1e}"
