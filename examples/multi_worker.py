"""
Title: Multi-worker training on TensorFlow and JAX
Description: Data-parallel training of a heteroscedastic model over several
processes, checked against one process, with restart from checkpoints.

A model built from this package's layers (`Dense` -> `BetaSoftplus` ->
`NormalHead`, trained with `NormalNLL`) is trained data-parallel by several
worker processes, each on its own rows of every global batch:

- **TensorFlow:** `tf.distribute.MultiWorkerMirroredStrategy` with a custom
  training loop (`strategy.run` over `strategy.experimental_distribute_dataset`).
  Keras 3 `Model.fit` does not run under this strategy (keras-team/keras#20585,
  tensorflow/tensorflow#72388). Checkpoints: `tf.train.CheckpointManager`,
  every step.
- **JAX:** `jax.distributed.initialize` (gloo collectives on CPU) and the Keras
  distribution API, `keras.distribution.DataParallel`; `Model.fit` trains.
  Checkpoints: `keras.callbacks.BackupAndRestore`, every epoch.

Run on one machine, the script is its own launcher: it starts `--workers`
processes on 127.0.0.1 on free ports, waits for them (with a timeout), trains
the same model in one process on the same global batches, and prints the
final losses, the largest weight differences and an agreement line. It exits
non-zero when a worker fails or the weights disagree.

    python examples/multi_worker.py --backend tensorflow --workers 2
    python examples/multi_worker.py --backend jax --workers 2
    # Fault tolerance: worker 1 exits hard after step 6 of 12; the job
    # restarts from the last checkpoint and must end with the same weights.
    python examples/multi_worker.py --backend tensorflow --workers 2 \
        --fail-at-step 6 --fail-worker 1

On a real cluster, run the same script with `--worker` on every host, with the
same `--workdir` on a shared file system (checkpoints, results) and:

- TensorFlow: `TF_CONFIG` set as usual, e.g. on the second host
  `{"cluster": {"worker": ["host0:2222", "host1:2222"]},
  "task": {"type": "worker", "index": 1}}`;
- JAX: `--coordinator host0:1234 --num-processes 2 --process-id 1`, or the
  environment variables `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`,
  `JAX_PROCESS_ID`.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

"""
## The data, the model and the global batches

Every process builds the same synthetic data set: a mean and a noise scale
that both depend on the inputs. At step `s` the global batch is the rows
`[s * B, (s + 1) * B)` (B = `--global-batch`); with N workers, worker `i`
trains on the `i`-th of N equal slices of it. One process trained on the
global batches in the same order is the reference.
"""

FEATURES = 4


def make_data(steps_per_epoch, global_batch, seed=0):
    rng = np.random.default_rng(seed)
    n = steps_per_epoch * global_batch
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    mean = np.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    scale = 0.1 + 0.4 * np.abs(x[:, 2:3])
    y = (mean + scale * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def worker_rows(array, global_batch, workers, index):
    """Worker `index`'s slice of every global batch, in step order."""
    local = global_batch // workers
    batches = array.reshape(-1, workers, local, *array.shape[1:])
    return batches[:, index].reshape(-1, *array.shape[1:])


def build_model(seed):
    import keras

    from keras_softplus import layers

    keras.utils.set_random_seed(seed)  # The same initial weights everywhere.
    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(32, name="hidden"),
            layers.BetaSoftplus(beta=1.0, name="act"),
            layers.NormalHead(1, name="normal"),
        ]
    )


def save_weights(path, model):
    np.savez(path, **{f"w{i}": w for i, w in enumerate(model.get_weights())})


"""
## TensorFlow: MultiWorkerMirroredStrategy and a custom training loop

Each replica computes the loss summed over its rows divided by the *global*
batch size; the optimizer sums the gradients over all replicas, which gives
the gradient of the global batch mean. `experimental_distribute_dataset`
splits every global batch between the workers (auto-sharding by data).

The chief (worker 0) saves a checkpoint of the model, the optimizer and the
step counter after every step; the other workers save to a scratch folder of
their own, as `tf.distribute` expects every worker to take part in a save. On
a restart all workers restore the chief's latest checkpoint and skip the
global batches already trained.
"""


def train_tensorflow(args, index, workers):
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    from keras_softplus import losses

    x, y = make_data(args.steps_per_epoch, args.global_batch)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.global_batch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    dataset = dataset.with_options(options).repeat(args.epochs)

    with strategy.scope():
        model = build_model(args.seed)
        optimizer = keras.optimizers.Adam(args.learning_rate)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
    loss_fn = losses.NormalNLL(reduction=None)

    chief_dir = os.path.join(args.workdir, "checkpoints")
    own_dir = chief_dir if index == 0 else os.path.join(chief_dir, f"worker-{index}")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(checkpoint, own_dir, max_to_keep=2)
    latest = tf.train.latest_checkpoint(chief_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"worker {index}: resumed at step {int(step.numpy())}", flush=True)

    def replica_step(features, targets):
        with tf.GradientTape() as tape:
            per_row = loss_fn(targets, model(features, training=True))
            loss = tf.reduce_sum(per_row) / args.global_batch
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(batch):
        losses_ = strategy.run(replica_step, args=batch)
        return strategy.reduce("SUM", losses_, axis=None)

    total, loss = args.epochs * args.steps_per_epoch, float("nan")
    batches = iter(strategy.experimental_distribute_dataset(dataset))
    for done in range(total):  # Bounded: a fixed number of steps.
        batch = next(batches)
        if done < int(step.numpy()):
            continue  # Trained before the restart.
        loss = train_step(batch)
        step.assign_add(1)
        manager.save(checkpoint_number=int(step.numpy()))
        if args.fail_at_step == done + 1 and index == args.fail_worker:
            print(f"worker {index}: exiting hard after step {done + 1}", flush=True)
            os._exit(17)  # As if the machine died.
    print(f"worker {index}: last step loss {float(loss):.6f}", flush=True)
    save_weights(os.path.join(args.workdir, f"worker-{index}.npz"), model)


"""
## JAX: the Keras distribution API

`jax.distributed.initialize` connects the processes; every device of every
process joins one `DataParallel` mesh. With `auto_shard_dataset=False` each
process passes its own rows to `fit` with the local batch size, and Keras
assembles the global batch from the processes' slices.

`BackupAndRestore` saves the weights and optimizer state at the end of every
epoch; on a restart `fit` resumes at the first unfinished epoch. Each process
keeps its own backup (the weights are replicated).
"""


def train_jax(args, index, workers, coordinator):
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator, workers, index, coordinator_bind_address=args.coordinator_bind
    )
    import keras

    from keras_softplus import losses

    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    )
    x, y = make_data(args.steps_per_epoch, args.global_batch)
    model = build_model(args.seed)
    model.compile(keras.optimizers.Adam(args.learning_rate), losses.NormalNLL())

    backup = keras.callbacks.BackupAndRestore(
        os.path.join(args.workdir, "backup", f"worker-{index}")
    )

    class Report(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            first = int(self.model.optimizer.iterations.numpy())
            if first:
                print(f"worker {index}: resumed at step {first}", flush=True)

        def on_train_batch_end(self, batch, logs=None):
            done = int(self.model.optimizer.iterations.numpy())
            if args.fail_at_step == done and index == args.fail_worker:
                print(f"worker {index}: exiting hard after step {done}", flush=True)
                os._exit(17)

    history = model.fit(
        worker_rows(x, args.global_batch, workers, index),
        worker_rows(y, args.global_batch, workers, index),
        batch_size=args.global_batch // workers,
        epochs=args.epochs,
        shuffle=False,  # The same batches on every run.
        verbose=0,
        callbacks=[backup, Report()],
    )
    print(f"worker {index}: last epoch loss {history.history['loss'][-1]:.6f}")
    save_weights(os.path.join(args.workdir, f"worker-{index}.npz"), model)


"""
## The reference: one process, the same global batches

It also computes the loss on the full data set of every worker's final
weights, so that all losses are measured the same way.
"""


def train_reference(args):
    import keras

    from keras_softplus import losses

    x, y = make_data(args.steps_per_epoch, args.global_batch)
    loss_fn = losses.NormalNLL()

    def full_loss(m):
        return float(keras.ops.convert_to_numpy(loss_fn(y, m.predict(x, verbose=0))))

    model = build_model(args.seed)
    model.compile(keras.optimizers.Adam(args.learning_rate), loss_fn)
    report = {"initial": full_loss(model), "workers": []}
    model.fit(
        x, y, batch_size=args.global_batch, epochs=args.epochs, shuffle=False, verbose=0
    )
    report["reference"] = full_loss(model)
    for index in range(args.workers):
        with np.load(os.path.join(args.workdir, f"worker-{index}.npz")) as data:
            weights = [data[f"w{i}"] for i in range(len(model.weights))]
        other = build_model(args.seed)
        other.set_weights(weights)
        report["workers"].append(full_loss(other))
    save_weights(os.path.join(args.workdir, "reference.npz"), model)
    with open(os.path.join(args.workdir, "losses.json"), "w") as f:
        json.dump(report, f)


"""
## The launcher

It picks free ports on 127.0.0.1, starts the workers with `KERAS_BACKEND` and
`TF_CONFIG` (or the JAX coordinator) in their environment, and polls them
until all have finished or the timeout has passed. When a worker fails, it
stops the others and, within `--max-restarts`, starts the job again; the
workers resume from their checkpoints.
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_environment(args):
    env = dict(os.environ, KERAS_BACKEND=args.backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def run_job(args, attempt, deadline):
    """One attempt: all workers; True when every worker exited with 0."""
    ports = [free_port() for _ in range(args.workers)]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes, start = [], time.monotonic()
    for index in range(args.workers):
        env = worker_environment(args)
        command = [sys.executable, os.path.abspath(__file__), "--worker"]
        command += forwarded_flags(args, attempt)
        if args.backend == "tensorflow":
            env["TF_CONFIG"] = json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            )
        else:
            command += ["--coordinator", cluster["worker"][0]]
            command += ["--coordinator-bind", cluster["worker"][0]]
            command += ["--num-processes", str(args.workers)]
            command += ["--process-id", str(index)]
        processes.append(subprocess.Popen(command, env=env))
    try:
        while time.monotonic() < deadline:
            codes = [p.poll() for p in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                print(
                    f"attempt {attempt}: worker {failed[0]} exited with "
                    f"{codes[failed[0]]} after {time.monotonic() - start:.0f} s; "
                    "stopping the others",
                    flush=True,
                )
                return False
            if all(code == 0 for code in codes):
                print(
                    f"attempt {attempt}: {args.workers} workers finished in "
                    f"{time.monotonic() - start:.0f} s",
                    flush=True,
                )
                return True
            time.sleep(0.2)
        print(f"attempt {attempt}: timed out after {args.timeout} s", flush=True)
        return False
    finally:
        # A short grace period lets the others finish a checkpoint in progress.
        grace = time.monotonic() + 2
        for p in processes:
            try:
                p.wait(timeout=max(grace - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=30)


def forwarded_flags(args, attempt):
    flags = ["--backend", args.backend, "--workdir", args.workdir]
    for name in ("epochs", "steps_per_epoch", "global_batch", "seed"):
        flags += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    flags += ["--learning-rate", repr(args.learning_rate)]
    if args.fail_at_step and attempt == 0:  # Fail on the first attempt only.
        flags += ["--fail-at-step", str(args.fail_at_step)]
        flags += ["--fail-worker", str(args.fail_worker)]
    return flags


def launch(args):
    deadline = time.monotonic() + args.timeout
    for attempt in range(args.max_restarts + 1):
        if run_job(args, attempt, deadline):
            break
        if time.monotonic() >= deadline:
            return 1
    else:
        print(f"FAILED: the job did not finish in {args.max_restarts + 1} attempts")
        return 1

    command = [sys.executable, os.path.abspath(__file__), "--reference"]
    command += forwarded_flags(args, attempt=1) + ["--workers", str(args.workers)]
    remaining = max(deadline - time.monotonic(), 1)
    try:
        env = worker_environment(args)
        subprocess.run(command, env=env, timeout=remaining, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"FAILED: the one-process reference: {error}")
        return 1

    with open(os.path.join(args.workdir, "losses.json")) as f:
        losses = json.load(f)
    results = [
        np.load(os.path.join(args.workdir, f"worker-{i}.npz"))
        for i in range(args.workers)
    ]
    reference = np.load(os.path.join(args.workdir, "reference.npz"))

    def largest_difference(a, b):
        return max(float(np.max(np.abs(a[k] - b[k]))) for k in reference.files)

    between = max(largest_difference(r, results[0]) for r in results)
    against = max(largest_difference(r, reference) for r in results)
    losses_text = ", ".join(f"{v:.6f}" for v in losses["workers"])
    print(
        f"loss on the full data: initial {losses['initial']:.6f}; final: workers "
        f"{losses_text}, one process {losses['reference']:.6f}"
    )
    print(
        f"largest weight difference: between workers {between:.1e}, "
        f"against one process {against:.1e}"
    )
    agree = between <= args.tolerance and against <= args.tolerance
    print(
        f"{'AGREE' if agree else 'DISAGREE'}: {args.workers} {args.backend} "
        f"workers vs one process, tolerance {args.tolerance:.0e}"
    )
    return 0 if agree else 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Multi-worker training on TensorFlow and JAX, checked against "
        "one process; see the docstring."
    )
    p.add_argument("--backend", choices=["tensorflow", "jax"], default="tensorflow")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps-per-epoch", type=int, default=4)
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--timeout", type=float, default=300, help="seconds, in all")
    p.add_argument("--workdir", help="checkpoints and results (default: a temp dir)")
    p.add_argument(
        "--fail-at-step",
        type=int,
        default=0,
        help="first attempt: a worker exits hard after this step",
    )
    p.add_argument("--fail-worker", type=int, default=0)
    p.add_argument("--max-restarts", type=int, default=1)
    p.add_argument(
        "--worker",
        action="store_true",
        help="run one worker (TF_CONFIG, or the JAX flags below)",
    )
    p.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--coordinator", default=os.environ.get("JAX_COORDINATOR_ADDRESS"))
    p.add_argument(
        "--coordinator-bind",
        default=os.environ.get("JAX_COORDINATOR_BIND_ADDRESS"),
        help="address:port the coordinator listens on (default: all interfaces)",
    )
    p.add_argument(
        "--num-processes", type=int, default=int(os.environ.get("JAX_NUM_PROCESSES", 0))
    )
    p.add_argument(
        "--process-id", type=int, default=int(os.environ.get("JAX_PROCESS_ID", 0))
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker or args.reference:
        # The backend is chosen before Keras is first imported.
        os.environ["KERAS_BACKEND"] = args.backend
    if (args.worker or args.reference) and not args.workdir:
        sys.exit("--worker needs --workdir (shared by all workers)")
    if args.reference:
        return train_reference(args)
    if args.worker and args.backend == "tensorflow":
        if "TF_CONFIG" not in os.environ:
            sys.exit("--worker --backend tensorflow needs TF_CONFIG")
        task = json.loads(os.environ["TF_CONFIG"])
        args.workers = len(task["cluster"]["worker"])
    elif args.worker:
        if not args.coordinator or args.num_processes < 1:
            sys.exit("--worker --backend jax needs --coordinator and --num-processes")
        args.workers = args.num_processes
    if args.workers < 1 or args.global_batch % args.workers:
        sys.exit("--global-batch must be a multiple of the number of workers")
    if args.worker and args.backend == "tensorflow":
        return train_tensorflow(args, task["task"]["index"], args.workers)
    if args.worker:
        return train_jax(args, args.process_id, args.workers, args.coordinator)

    own_workdir = args.workdir is None
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="multi_worker_")
    try:
        return launch(args)
    finally:
        if own_workdir:
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
