"""Multi-worker training: `examples/multi_worker.py` on 127.0.0.1.

Two worker processes train a `Dense -> BetaSoftplus -> NormalHead` model with
`NormalNLL`: on TensorFlow with `MultiWorkerMirroredStrategy` and a custom
training loop, on JAX with `jax.distributed` and Keras' `DataParallel`. The
tests read the weights the workers and a one-process reference saved, and
check that the workers agree with each other and with one process trained on
the same global batches. A third test kills a worker mid-training and checks
that the restarted job resumes from the last checkpoint and ends with the
same weights.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "multi_worker.py")
# Few, small steps: 3 epochs of 4 global batches of 64 rows.
FLAGS = ["--workers", "2", "--epochs", "3", "--steps-per-epoch", "4"]


def run_example(workdir, backend, *extra, timeout=280):
    command = [sys.executable, SCRIPT, "--backend", backend, "--workdir", str(workdir)]
    command += [*FLAGS, "--timeout", str(timeout - 30), *extra]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    environment.pop("TF_CONFIG", None)
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=ROOT,
    )
    assert completed.returncode == 0, (
        completed.stdout[-3000:] + completed.stderr[-4000:]
    )
    return completed.stdout


def load_weights(path):
    with np.load(path) as data:
        return [data[f"w{i}"] for i in range(len(data.files))]


def check_agreement(workdir, stdout):
    workers = [load_weights(workdir / f"worker-{i}.npz") for i in range(2)]
    reference = load_weights(workdir / "reference.npz")
    assert reference and all(len(w) == len(reference) for w in workers)
    for index, expected in enumerate(reference):
        # The two workers hold the same weights, bit for bit.
        np.testing.assert_array_equal(workers[1][index], workers[0][index])
        np.testing.assert_allclose(
            workers[0][index], expected, rtol=0, atol=1e-5, err_msg=f"weight {index}"
        )
    losses = json.loads((workdir / "losses.json").read_text())
    # Training moved the weights: the loss on the full data went down.
    assert losses["reference"] < losses["initial"] - 0.05, losses
    np.testing.assert_allclose(losses["workers"], losses["reference"], rtol=1e-5)
    match = re.search(r"between workers (\S+), against one process (\S+)", stdout)
    assert match, stdout
    between, against = (float(value) for value in match.groups())
    assert between == 0.0 and against <= 1e-5, stdout
    assert "AGREE: 2" in stdout, stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"], ids=["tensorflow", "jax"])
def test_two_workers_agree_with_one_process(tmp_path, backend):
    stdout = run_example(tmp_path, backend)
    assert "attempt 0: 2 workers finished" in stdout, stdout
    check_agreement(tmp_path, stdout)


@pytest.mark.slow
def test_killed_worker_resumes_from_checkpoint_tensorflow(tmp_path):
    """Worker 1 exits hard after step 6 of 12; the job restarts and resumes.

    Checkpoints are saved after every step, so both workers resume at step 6,
    and end with the same weights as one uninterrupted process.
    """
    stdout = run_example(
        tmp_path, "tensorflow", "--fail-at-step", "6", "--fail-worker", "1"
    )
    assert "worker 1: exiting hard after step 6" in stdout, stdout
    assert "attempt 0: worker 1 exited with 17" in stdout, stdout
    assert "attempt 1: 2 workers finished" in stdout, stdout
    for index in range(2):
        assert f"worker {index}: resumed at step 6" in stdout, stdout
    check_agreement(tmp_path, stdout)
