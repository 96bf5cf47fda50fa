"""Training-step time of a Keras MLP with `BetaSoftplus` against baselines.

MLP: 4 hidden Dense(512) layers, each followed by the activation under test,
Dense(10), sparse categorical cross-entropy, Adam, batch 1024 of 512
features, float32. Conv net (configs `conv_*`): two 3x3 Conv2D(32) on 16
inputs of 64x64x8, each activated, global average pooling, Dense(10). One
`model.train_on_batch` per step on fixed tensors; models from the same seed.

Activations: relu and softplus (`keras.layers.Activation`), beta_softplus
(`BetaSoftplus()`, trainable beta), naive_beta (`softplus(b*x)/b`, b a
trainable scalar, autodiff) and beta_fixed (`BetaSoftplus(learn_beta=False)`).
Compiled with `jit_compile=False` (what `"auto"` resolves to on a CPU-only
machine) and `jit_compile=True`.

Diagnostics: `layer_diagnostic`, each activation layer alone (forward and
backward at the model's activation shape) with its traced graph's TF ops and
XLA launches; `launch_probe`, the fixed cost of the fused op on a scalar;
`step_structure`, the optimized HLO of each model's loss + gradients.

Usage: python benchmarks/bench_model.py [--quick] [--repetitions N]
"""

import argparse
import os
import re
import sys

import _common
import keras
import make_summary
import numpy as np
import tensorflow as tf

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
TARGET = {"ratio": "beta_softplus / softplus", "bound": 1.03}
CONV_INPUT, CONV_BATCH = (64, 64, 8), 16


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
            calls, repetitions, VERSUS_SOFTPLUS, inner=inner, warmup=3
        )
        if structure:
            results[config]["structure"] = structure
        print(f"  layer {config:<7} {_ms(results[config])}", flush=True)
    return results


def step_structure(models, inputs, labels, batch, hidden):
    """Optimized HLO of each model's loss + gradients (no optimizer update)
    as one XLA program: entry kernels, and those writing a `[batch, hidden]`
    array (pre-activations, activations, gradients, stored intermediates)."""
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


def auto_jit_resolution(features):
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", jit_compile="auto")
    return bool(model.jit_compile)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny MLP, 3 reps")
    parser.add_argument("--repetitions", type=int, help="rounds (default 50)")
    args = parser.parse_args()
    if args.quick:
        batch, features, hidden, depth, repetitions, inner = 64, 32, 32, 4, 3, 2
    else:
        batch, features, hidden, depth, inner = 1024, 512, 512, 4, 4
        repetitions = args.repetitions or 50
    machine = _common.machine_info()
    _common.print_machine(machine)
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.normal(size=(batch, features)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 10, size=(batch,)).astype(np.int32))
    conv_inputs = tf.constant(
        rng.normal(size=(CONV_BATCH, *CONV_INPUT)).astype(np.float32)
    )
    results = {}
    for conv, jit in ((False, False), (False, True), (True, False), (True, True)):
        config = ("conv_" if conv else "") + ("jit" if jit else "no_jit")
        models = {
            name: build_model(name, features, hidden, depth, jit, conv)
            for name in ACTIVATIONS
        }
        x, y = (conv_inputs, labels[:CONV_BATCH]) if conv else (inputs, labels)
        calls = {
            name: (lambda m=model, x=x, y=y: m.train_on_batch(x, y))
            for name, model in models.items()
        }
        results[config] = _common.compare(
            calls,
            repetitions,
            [*VERSUS_SOFTPLUS, ("softplus", "relu")],
            inner=inner,
            warmup=3,
        )
        if jit and not conv:
            structure = step_structure(models, inputs, labels, batch, hidden)
        print(f"  {config:<11} {_ms(results[config], 1)}", flush=True)

    layer_repetitions, layer_inner = (
        (3, 2) if args.quick else (args.repetitions or 200, 5)
    )
    layer = layer_diagnostic(batch, hidden, layer_repetitions, layer_inner)
    probe = launch_probe(layer_repetitions, 4 * layer_inner)

    targets = {}
    for config, entry in results.items():
        ratio = entry["ratios"][TARGET["ratio"]]
        targets[f"beta_softplus_vs_softplus@{config}"] = {
            "ratio_name": TARGET["ratio"],
            "config": config,
            "measured": ratio["ratio"],
            "measured_q1_q3": [ratio["ratio_q1"], ratio["ratio_q3"]],
            "target": f"<= {TARGET['bound']}",
            "met": bool(ratio["ratio"] <= TARGET["bound"]),
        }

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
            "optimizer": "Adam(1e-3)",
            "loss": "SparseCategoricalCrossentropy(from_logits=True)",
            "dtype": "float32",
            "activation_elements_per_step": batch * hidden * depth,
        },
        "keras_auto_jit_on_this_machine": auto_jit_resolution(features),
        "repetitions": repetitions,
        "steps_per_sample": inner,
        "timing": "model.train_on_batch on fixed tensors; models interleaved "
        "round-robin; ratio = median of per-round ratios",
        "results": results,
        "targets": targets,
        "step_structure": {
            "description": "loss + gradients of each model (no optimizer update) "
            "as one XLA program, optimized HLO: entry kernels, those writing a "
            "[batch, hidden] array",
            "results": structure,
        },
        "layer_diagnostic": {
            "description": "the activation layer alone at (batch, hidden), "
            "forward + backward (grads wrt input and trainable weights), "
            "tf.function without / with jit_compile; median ms per call, "
            "ratio = median of per-round ratios",
            "repetitions": layer_repetitions,
            "calls_per_sample": layer_inner,
            "results": layer,
            "launch_probe": probe,
        },
    }
    print("\n".join(make_summary.model_section(payload)))
    _common.write_json(
        os.path.join(_common.results_dir(args.quick), "model.json"), payload
    )


if __name__ == "__main__":
    sys.exit(main())
