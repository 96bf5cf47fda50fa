"""Training-step time of a Keras model with `BetaSoftplus` against baselines,
on the TensorFlow, JAX and PyTorch backends.

MLP: 4 hidden Dense(512) layers, each followed by the activation under test,
Dense(10), sparse categorical cross-entropy, Adam, batch 1024 of 512
features, float32. Conv net (configs `conv_*`): two 3x3 Conv2D(32) on 16
inputs of 64x64x8, each activated, global average pooling, Dense(10). One
`model.train_on_batch` per step on fixed tensors; models from the same seed.

Activations: relu and softplus (`keras.layers.Activation`), beta_softplus
(`BetaSoftplus()`, trainable beta), naive_beta (`softplus(b*x)/b`, b a
trainable scalar, autodiff) and beta_fixed (`BetaSoftplus(learn_beta=False)`).

Each backend runs in a fresh process with `KERAS_BACKEND` set, its five
models round-robin in that process (`_common.compare`). Configs: `no_jit`
and `jit` are `compile(jit_compile=False / True)`; `BACKEND_CONFIGS` lists
those measured per backend, and `keras_default_jit_compile` in the JSON
records what Keras' default `jit_compile="auto"` resolves to (on a CPU-only
machine: TensorFlow without XLA, JAX with XLA, PyTorch eager; PyTorch's
`jit_compile=True` is `torch.compile`).

TensorFlow diagnostics: `layer_diagnostic`, each activation layer alone
(forward and backward at the model's activation shape) with its traced
graph's TF ops and XLA launches; `launch_probe`, the fixed cost of the fused
op on a scalar; `step_structure`, the optimized HLO of each model's loss +
gradients.

Usage: python benchmarks/bench_model.py [--quick] [--repetitions N]
       [--backends tensorflow,jax,torch] [--output model.json]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import _common
import keras
import make_summary
import numpy as np

import keras_softplus


class NaiveBetaSoftplus(keras.layers.Layer):
    """`softplus(b*x)/b` with a trainable scalar b, differentiated by autodiff."""

    def build(self, input_shape):
        self.b = self.add_weight(
            shape=(), name="b", initializer=keras.initializers.Constant(1.0)
        )

    def call(self, inputs):
        return keras.ops.softplus(self.b * inputs) / self.b


ACTIVATIONS = {
    "relu": lambda: keras.layers.Activation("relu"),
    "softplus": lambda: keras.layers.Activation("softplus"),
    "beta_softplus": lambda: keras_softplus.layers.BetaSoftplus(),
    "naive_beta": lambda: NaiveBetaSoftplus(),
    "beta_fixed": lambda: keras_softplus.layers.BetaSoftplus(learn_beta=False),
}
VERSUS_SOFTPLUS = [(a, "softplus") for a in ACTIVATIONS if a != "softplus"]
STEP_RATIOS = [*VERSUS_SOFTPLUS, ("beta_softplus", "naive_beta"), ("softplus", "relu")]
# The `jit_compile` values measured per backend. JAX's default ("auto") is
# XLA, and `jit_compile=False` there runs op by op, which nobody trains with.
BACKEND_CONFIGS = {
    "tensorflow": (False, True),
    "jax": (True,),
    "torch": (False, True),
}
# The bounds, kept in the JSON; see benchmarks/README.md.
TARGETS = {
    "beta_softplus / softplus": 1.10,
    "beta_softplus / naive_beta": 1.0,
    "beta_fixed / softplus": 1.03,
}
CONV_INPUT, CONV_BATCH = (64, 64, 8), 16
DYNAMO_RECOMPILE_LIMIT = 128
# Untimed steps per model before timing. Under torch.compile a Keras step
# still recompiles in its first few steps (optimizer state, requires_grad).
WARMUP_STEPS = {"torch_jit": 10, "other": 3}
WORKER_TIMEOUT_S = 3600


def build_model(activation, features, hidden, depth, jit_compile, conv=False):
    keras.utils.set_random_seed(0)
    if conv:  # two 3x3 convolutions to 64x64x32 maps, each activated
        layers = [keras.Input(CONV_INPUT)]
        for _ in range(2):
            layers += [keras.layers.Conv2D(32, 3, padding="same")]
            layers += [ACTIVATIONS[activation]()]
        layers.append(keras.layers.GlobalAveragePooling2D())
    else:
        layers = [keras.Input((features,))]
        for _ in range(depth):
            layers += [keras.layers.Dense(hidden), ACTIVATIONS[activation]()]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def layer_diagnostic(batch, hidden, repetitions, inner):
    """Each activation layer alone at `(batch, hidden)`: forward and backward
    (gradients wrt its input and trainable weights for an upstream `dy`) in a
    `tf.function` without and with `jit_compile`, and (without) the traced
    graph's TF ops and XLA launches (`bench_ops.tf_graph_ops`)."""
    import tensorflow as tf
    from bench_ops import tf_graph_ops

    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(0.0, 2.0, (batch, hidden)).astype(np.float32))
    dy = tf.constant(rng.normal(0.0, 1.0, (batch, hidden)).astype(np.float32))
    results = {}
    for jit in (False, True):
        config = "jit" if jit else "no_jit"
        steps, structure = {}, {}
        for name, make in ACTIVATIONS.items():
            layer = make()
            layer.build((batch, hidden))

            def step(x, dy, layer=layer):
                weights = list(layer.trainable_weights)
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = layer(x)
                return y, tape.gradient(y, [x] + weights, output_gradients=dy)

            steps[name] = tf.function(step, jit_compile=jit, autograph=False)
            if not jit:
                ops_ = tf_graph_ops(steps[name].get_concrete_function(x, dy).graph)
                structure[name] = {
                    "tf_ops_outside_xla": sum(ops_["outside_xla"].values()),
                    "tf_op_types_outside_xla": ops_["outside_xla"],
                    "xla_launches": sum(ops_["xla_calls"].values()),
                    "xla_calls": ops_["xla_calls"],
                }
        calls = {name: (lambda f=f: f(x, dy)) for name, f in steps.items()}
        results[config] = _common.compare(
            calls, repetitions, STEP_RATIOS, inner=inner, warmup=3
        )
        if structure:
            results[config]["structure"] = structure
        print(f"  layer {config:<7} {_ms(results[config])}", flush=True)
    return results


def step_structure(models, inputs, labels, batch, hidden):
    """Optimized HLO of each model's loss + gradients (no optimizer update)
    as one XLA program: entry kernels, and those writing a `[batch, hidden]`
    array (pre-activations, activations, gradients, stored intermediates)."""
    import tensorflow as tf
    from bench_ops import HLO_INSTRUCTION
    from bench_ops import NOT_KERNELS

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    pattern = re.compile(rf"\[{batch},{hidden}\]")
    structure = {}

    def make_step(model):
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            return loss, tape.gradient(loss, model.trainable_variables)

        return tf.function(step, jit_compile=True, autograph=False)

    for name, model in models.items():
        step = make_step(model)
        hlo = step.experimental_get_compiler_ir(inputs, labels)(stage="optimized_hlo")
        entry = hlo[hlo.index("ENTRY") :]
        entry = entry[: entry.index("\n}")]
        kernels = [
            (shape, op)
            for _, shape, op in HLO_INSTRUCTION.findall(entry)
            if op not in NOT_KERNELS
        ]
        structure[name] = {
            "xla_entry_kernels": len(kernels),
            "activation_sized_arrays_written": sum(
                1 for shape, _ in kernels if pattern.search(shape)
            ),
            "dot_kernels": sum(1 for _, op in kernels if op == "dot"),
        }
    return structure


def launch_probe(repetitions, inner):
    """Fixed cost per call without XLA around it: fwd+bwd of
    `keras_softplus.ops.softplus` on a scalar x and beta (two XLA launches,
    no work) against `tf.nn.softplus` on a scalar (three TF ops)."""
    import tensorflow as tf

    x, b = tf.constant(0.3), tf.constant(1.7)

    @tf.function(autograph=False)
    def fused(x, b):
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            y = keras_softplus.ops.softplus(x, b)
        return y, tape.gradient(y, [x, b])

    @tf.function(autograph=False)
    def builtin(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.softplus(x)
        return y, tape.gradient(y, x)

    calls = {"fused_scalar": lambda: fused(x, b), "builtin_scalar": lambda: builtin(x)}
    result = _common.compare(calls, repetitions, inner=inner, warmup=3)["times"]
    print(
        "  launch probe (tf.function, scalar fwd+bwd): "
        + "  ".join(f"{n}={v['median_s'] * 1e6:.0f}us" for n, v in result.items())
    )
    return {
        "description": "tf.function fwd+bwd on a scalar: fused_scalar = "
        "keras_softplus.ops.softplus (XLA launches on size-bucketed buffers), "
        "builtin_scalar = tf.nn.softplus (3 TF ops)",
        "repetitions": repetitions,
        "calls_per_sample": inner,
        "times": result,
    }


def _ms(entry, digits=2):
    return "  ".join(
        f"{n}={t['median_s'] * 1e3:.{digits}f}ms" for n, t in entry["times"].items()
    )


def keras_default_jit_compile(features):
    """What `jit_compile="auto"` resolves to for a `BetaSoftplus` model here."""
    model = keras.Sequential(
        [keras.Input((features,)), keras_softplus.layers.BetaSoftplus()]
    )
    model.compile(optimizer="adam", loss="mse", jit_compile="auto")
    return bool(model.jit_compile)


def backend_version(backend):
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    return __import__(module).__version__


def shapes(quick):
    """`(batch, features, hidden, depth, repetitions, steps per sample)`."""
    if quick:
        return 64, 32, 32, 4, 3, 2
    return 1024, 512, 512, 4, 50, 4


def measure_backend(quick, repetitions):
    """Every config of `BACKEND_CONFIGS` for the backend of this process.

    Returns the JSON of one backend: per config the `_common.compare` entry
    (with `first_step_s`, each model's first step: tracing, compilation), and
    for a config that raised, the error instead.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        # The five models run the same Keras layer code: under torch.compile
        # each is a further compiled version of it, past dynamo's default
        # limits (beyond which the later models would silently run eager).
        torch._dynamo.config.recompile_limit = DYNAMO_RECOMPILE_LIMIT
        torch._dynamo.config.accumulated_recompile_limit = 8 * DYNAMO_RECOMPILE_LIMIT
    batch, features, hidden, depth, default_repetitions, inner = shapes(quick)
    repetitions = repetitions or default_repetitions
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(batch, features)).astype(np.float32)
    labels = rng.integers(0, 10, size=(batch,)).astype(np.int32)
    conv_inputs = rng.normal(size=(CONV_BATCH, *CONV_INPUT)).astype(np.float32)
    data = {
        False: tuple(map(keras.ops.convert_to_tensor, (inputs, labels))),
        True: tuple(
            map(keras.ops.convert_to_tensor, (conv_inputs, labels[:CONV_BATCH]))
        ),
    }
    configs = {
        ("conv_" if conv else "") + ("jit" if jit else "no_jit"): (conv, jit)
        for conv in (False, True)
        for jit in BACKEND_CONFIGS[backend]
    }
    results, failed, structure = {}, {}, None
    for config, (conv, jit) in configs.items():
        x, y = data[conv]
        try:
            models = {
                name: build_model(name, features, hidden, depth, jit, conv)
                for name in ACTIVATIONS
            }
            calls = {
                name: (lambda m=model, x=x, y=y: m.train_on_batch(x, y))
                for name, model in models.items()
            }
            first_step = {}
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                first_step[name] = time.perf_counter() - start
            torch_compiled = backend == "torch" and jit
            warmup = WARMUP_STEPS["torch_jit" if torch_compiled else "other"]
            # A torch.compile'd Keras step takes ~0.4 s on CPU: one per sample.
            steps = 1 if torch_compiled else inner
            entry = _common.compare(
                calls, repetitions, STEP_RATIOS, inner=steps, warmup=warmup
            )
        except Exception as error:  # e.g. torch.compile failing on a model
            failed[config] = f"{type(error).__name__}: {error}"[:2000]
            print(f"  {backend} {config:<11} failed: {failed[config][:200]}")
            continue
        results[config] = {
            **entry,
            "first_step_s": first_step,
            "warmup_steps": 1 + warmup,
            "steps_per_sample": steps,
        }
        if backend == "tensorflow" and jit and not conv:
            structure = step_structure(models, *data[False], batch, hidden)
        print(f"  {backend} {config:<11} {_ms(entry, 1)}", flush=True)
    measured = {
        "version": backend_version(backend),
        "keras_default_jit_compile": keras_default_jit_compile(features),
        "configs": list(configs),
        "repetitions": repetitions,
        "steps_per_sample": inner,
        "results": results,
        "failed": failed,
    }
    if backend == "torch":
        measured["torch_dynamo_recompile_limit"] = DYNAMO_RECOMPILE_LIMIT
    if backend == "tensorflow":
        layer_repetitions, layer_inner = (3, 2) if quick else (repetitions * 4, 5)
        measured["step_structure"] = {
            "description": "loss + gradients of each model (no optimizer "
            "update) as one XLA program, optimized HLO: entry kernels, those "
            "writing a [batch, hidden] array",
            "results": structure,
        }
        measured["layer_diagnostic"] = {
            "description": "the activation layer alone at (batch, hidden), "
            "forward + backward (grads wrt input and trainable weights), "
            "tf.function without / with jit_compile; median ms per call, "
            "ratio = median of per-round ratios",
            "repetitions": layer_repetitions,
            "calls_per_sample": layer_inner,
            "results": layer_diagnostic(batch, hidden, layer_repetitions, layer_inner),
            "launch_probe": launch_probe(layer_repetitions, 4 * layer_inner),
        }
    return measured


def run_backend(backend, args):
    """`measure_backend` in a fresh process with `KERAS_BACKEND=backend`."""
    with tempfile.TemporaryDirectory() as folder:
        output = os.path.join(folder, f"{backend}.json")
        command = [sys.executable, os.path.abspath(__file__), "--worker", output]
        command += ["--quick"] if args.quick else []
        if args.repetitions:
            command += ["--repetitions", str(args.repetitions)]
        start = time.perf_counter()
        try:
            completed = subprocess.run(
                command,
                env=dict(os.environ, KERAS_BACKEND=backend),
                stderr=subprocess.PIPE,
                text=True,
                timeout=WORKER_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {WORKER_TIMEOUT_S} s"}
        wall = time.perf_counter() - start
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr[-4000:])
            return {"error": completed.stderr[-2000:], "wall_s": wall}
        with open(output) as handle:
            return {**json.load(handle), "wall_s": wall}


def evaluate_targets(backends):
    targets = {}
    for backend, measured in backends.items():
        for config, entry in measured.get("results", {}).items():
            for ratio_name, bound in TARGETS.items():
                ratio = entry["ratios"][ratio_name]
                targets[f"{ratio_name}@{backend}|{config}"] = {
                    "backend": backend,
                    "config": config,
                    "measured": ratio["ratio"],
                    "measured_q1_q3": [ratio["ratio_q1"], ratio["ratio_q3"]],
                    "target": f"<= {bound}",
                    "met": bool(ratio["ratio"] <= bound),
                }
    return targets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny MLP, 3 reps")
    parser.add_argument("--repetitions", type=int, help="rounds (default 50)")
    parser.add_argument(
        "--backends",
        default=",".join(BACKEND_CONFIGS),
        help="comma-separated, of tensorflow, jax, torch (default all)",
    )
    parser.add_argument("--output", default="model.json", help="results file name")
    # Internal: measure this process's backend and write its JSON there.
    parser.add_argument("--worker", metavar="OUTPUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _common.write_json(args.worker, measure_backend(args.quick, args.repetitions))
        return 0
    names = args.backends.split(",")
    unknown = sorted(set(names) - set(BACKEND_CONFIGS))
    if unknown:
        parser.error(f"unknown backends {unknown}; known: {list(BACKEND_CONFIGS)}")
    machine = _common.machine_info()
    _common.print_machine(machine)
    backends = {name: run_backend(name, args) for name in names}
    batch, features, hidden, depth, _, _ = shapes(args.quick)
    payload = {
        "benchmark": "bench_model",
        "quick": args.quick,
        "machine": machine,
        "device": machine["device"],
        "model": {
            "batch": batch,
            "features": features,
            "hidden": hidden,
            "hidden_layers": depth,
            "classes": 10,
            "conv": f"2 x Conv2D(32, 3) on {CONV_BATCH} inputs of {CONV_INPUT}",
            "optimizer": "Adam(1e-3)",
            "loss": "SparseCategoricalCrossentropy(from_logits=True)",
            "dtype": "float32",
            "activation_elements_per_step": batch * hidden * depth,
        },
        "timing": "model.train_on_batch on fixed tensors; per backend a fresh "
        "process, its models interleaved round-robin; ratio = median of "
        "per-round ratios",
        "backends": backends,
        "targets": evaluate_targets(backends),
    }
    print("\n".join(make_summary.model_section(payload)))
    _common.write_json(
        os.path.join(_common.results_dir(args.quick), args.output), payload
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
