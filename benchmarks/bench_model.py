"""Training-step time of a Keras MLP with `BetaSoftplus` against baselines.

MLP: 4 hidden Dense layers of 512 units, each followed by the activation
under test, a Dense(10) head, sparse categorical cross-entropy, Adam, batch
1024 of 512 features, float32. Conv net (configs `conv_*`), activation-heavy:
two 3x3 Conv2D(32) on 16 inputs of 64x64x8, each activated (2M activations
per layer), global average pooling, Dense(10). One `model.train_on_batch`
per step on fixed
tensors; models built from the same seed.

Activations:
  relu            keras.layers.Activation("relu")
  softplus        keras.layers.Activation("softplus") (the built-in, beta 1)
  beta_softplus   keras_softplus.layers.BetaSoftplus() (trainable beta)
  naive_beta      NaiveBetaSoftplus below: keras.ops.softplus(b*x)/b, b a
                  trainable scalar, autodiff (extra reference)
  beta_fixed      diagnostic: BetaSoftplus(learn_beta=False), so no beta
                  gradient is needed (XLA drops that work; without XLA the
                  custom gradient still computes it)

Two compile settings: `jit_compile=False`, which is what Keras'
`jit_compile="auto"` resolves to on a CPU-only machine, and
`jit_compile=True` (XLA). Models run round-robin, several steps per sample,
median of the per-round ratios.

Diagnostics, to attribute a step-time difference to the activation:
`layer_diagnostic`, each activation layer alone, forward and backward at the
model's activation shape, in both compile settings, with the structure of its
traced graph (TF ops, XLA launches) and the fixed cost of the fused op's
launches (`launch_probe`, scalar inputs); `step_structure`, the optimized HLO of
each model's loss + gradients compiled as one XLA program (kernels, and
activation-sized arrays written).

Target: beta_softplus / softplus <= 1.03 (step time).

Usage: python benchmarks/bench_model.py [--quick]
"""

import argparse
import os
import sys

import _common
import keras
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
TARGET = {"ratio": "beta_softplus / softplus", "bound": 1.03}
CONV_INPUT, CONV_BATCH = (64, 64, 8), 16


def build_model(activation, features, hidden, depth, jit_compile, conv=False):
    keras.utils.set_random_seed(0)
    if conv:  # two 3x3 convolutions to 64x64x32 maps, each activated
        layers = [keras.Input(CONV_INPUT)]
        for _ in range(2):
            layers += [
                keras.layers.Conv2D(32, 3, padding="same"),
                ACTIVATIONS[activation](),
            ]
        layers.append(keras.layers.GlobalAveragePooling2D())
    else:
        layers = [keras.Input((features,))]
        for _ in range(depth):
            layers += [keras.layers.Dense(hidden), ACTIVATIONS[activation]()]
    layers.append(keras.layers.Dense(10))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def layer_diagnostic(batch, hidden, repetitions, inner):
    """The activation layer alone, forward and backward, at the shape it
    has in the model: `(batch, hidden)`, gradients wrt its input and its
    trainable weights for an upstream `dy`, in `tf.function` without and
    with `jit_compile`. Candidates run round-robin as in the model
    benchmark. Also the traced graph's structure (`bench_ops.tf_graph_ops`):
    TF ops TensorFlow runs one kernel each, and XLA launches."""
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
                graph = steps[name].get_concrete_function(x, dy).graph
                ops_ = tf_graph_ops(graph)
                structure[name] = {
                    "tf_ops_outside_xla": sum(ops_["outside_xla"].values()),
                    "tf_op_types_outside_xla": ops_["outside_xla"],
                    "xla_launches": sum(ops_["xla_calls"].values()),
                    "xla_calls": ops_["xla_calls"],
                }
        calls = {name: (lambda f=f: f(x, dy)) for name, f in steps.items()}
        times = _common.interleaved_times(calls, repetitions, inner=inner, warmup=3)
        results[config] = {
            "times": {name: _common.summarize(t) for name, t in times.items()},
            "ratios": {
                f"{a} / softplus": _common.paired_ratio(times[a], times["softplus"])
                for a in ACTIVATIONS
                if a != "softplus"
            },
        }
        if structure:
            results[config]["structure"] = structure
        print(
            f"  layer {config:<7} "
            + "  ".join(
                f"{n}={results[config]['times'][n]['median_s'] * 1e3:.2f}ms"
                for n in ACTIVATIONS
            ),
            flush=True,
        )
    return results


def step_structure(models, inputs, labels, batch, hidden):
    """Optimized HLO of each model's loss + gradients (the training step
    without the optimizer update) compiled as one XLA program: top-level
    kernels of the entry computation, and how many of them write an
    activation-sized `[batch, hidden]` array (pre-activations, activations,
    their gradients, and any intermediate stored between kernels)."""
    import re

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
        hlo = make_step(model).experimental_get_compiler_ir(inputs, labels)(
            stage="optimized_hlo"
        )
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
    """Fixed cost per call, without XLA around it: forward and backward of
    `keras_softplus.ops.softplus` on a scalar x and beta (two XLA launches,
    no work) against `tf.nn.softplus` on a scalar (three TF ops), each in
    its own `tf.function`, round-robin."""
    from keras_softplus import ops as ks_ops

    x = tf.constant(0.3)
    b = tf.constant(1.7)

    @tf.function(autograph=False)
    def fused(x, b):
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            y = ks_ops.softplus(x, b)
        return y, tape.gradient(y, [x, b])

    @tf.function(autograph=False)
    def builtin(x, b):
        del b
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.softplus(x)
        return y, tape.gradient(y, x)

    calls = {
        "fused_scalar": lambda: fused(x, b),
        "builtin_scalar": lambda: builtin(x, b),
    }
    times = _common.interleaved_times(calls, repetitions, inner=inner, warmup=3)
    result = {name: _common.summarize(t) for name, t in times.items()}
    print(
        "  launch probe (tf.function, scalar fwd+bwd): "
        + "  ".join(f"{n}={v['median_s'] * 1e6:.0f}us" for n, v in result.items()),
        flush=True,
    )
    return {
        "description": "tf.function fwd+bwd on a scalar: fused_scalar = "
        "keras_softplus.ops.softplus (XLA launches on size-bucketed buffers), "
        "builtin_scalar = tf.nn.softplus (3 TF ops)",
        "repetitions": repetitions,
        "calls_per_sample": inner,
        "times": result,
    }


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
        batch, features, hidden, depth, repetitions, inner = 1024, 512, 512, 4, 50, 4
        repetitions = args.repetitions or repetitions
    machine = _common.machine_info()
    print(
        f"machine: {machine['cpu_model']} x{machine['cpu_count']}, "
        f"TF {machine['tensorflow']}, Keras {machine['keras']}, "
        f"device {machine['device']}"
    )
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.normal(size=(batch, features)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 10, size=(batch,)).astype(np.int32))

    conv_inputs = tf.constant(
        rng.normal(size=(CONV_BATCH, *CONV_INPUT)).astype(np.float32)
    )
    conv_labels = labels[:CONV_BATCH]
    results = {}
    for conv, jit in ((False, False), (False, True), (True, False), (True, True)):
        config = ("conv_" if conv else "") + ("jit" if jit else "no_jit")
        models = {
            name: build_model(name, features, hidden, depth, jit, conv)
            for name in ACTIVATIONS
        }
        x, y = (conv_inputs, conv_labels) if conv else (inputs, labels)
        calls = {
            name: (lambda m=model, x=x, y=y: m.train_on_batch(x, y))
            for name, model in models.items()
        }
        times = _common.interleaved_times(calls, repetitions, inner=inner, warmup=3)
        entry = {
            "times": {name: _common.summarize(t) for name, t in times.items()},
            "ratios": {
                f"{a} / softplus": _common.paired_ratio(times[a], times["softplus"])
                for a in ACTIVATIONS
                if a != "softplus"
            },
        }
        entry["ratios"]["softplus / relu"] = _common.paired_ratio(
            times["softplus"], times["relu"]
        )
        results[config] = entry
        if jit and not conv:
            structure = step_structure(models, inputs, labels, batch, hidden)
        print(
            f"  {config:<7} "
            + "  ".join(
                f"{n}={entry['times'][n]['median_s'] * 1e3:.1f}ms" for n in ACTIVATIONS
            ),
            flush=True,
        )

    layer_repetitions, layer_inner = (
        (3, 2) if args.quick else (args.repetitions or 200, 5)
    )
    layer = layer_diagnostic(batch, hidden, layer_repetitions, layer_inner)
    probe = launch_probe(layer_repetitions, 4 * layer_inner)

    print()
    header = (
        ["config"]
        + [f"{n} ms/step" for n in ACTIVATIONS]
        + [
            "beta_softplus/softplus",
            "naive_beta/softplus",
            "beta_fixed/softplus",
            "softplus/relu",
        ]
    )
    rows = []
    for config, entry in results.items():
        rows.append(
            [config]
            + [f"{entry['times'][n]['median_s'] * 1e3:.1f}" for n in ACTIVATIONS]
            + [
                f"{entry['ratios'][r]['ratio']:.3f}"
                for r in (
                    "beta_softplus / softplus",
                    "naive_beta / softplus",
                    "beta_fixed / softplus",
                    "softplus / relu",
                )
            ]
        )
    _common.print_table(header, rows)
    targets = {}
    for config, entry in results.items():
        ratio = entry["ratios"][TARGET["ratio"]]
        met = ratio["ratio"] <= TARGET["bound"]
        targets[f"beta_softplus_vs_softplus@{config}"] = {
            "ratio_name": TARGET["ratio"],
            "config": config,
            "measured": ratio["ratio"],
            "measured_q1_q3": [ratio["ratio_q1"], ratio["ratio_q3"]],
            "target": f"<= {TARGET['bound']}",
            "met": bool(met),
        }
        print(
            f"target {TARGET['ratio']} ({config}) = {ratio['ratio']:.3f} "
            f"[q1 {ratio['ratio_q1']:.3f}, q3 {ratio['ratio_q3']:.3f}] "
            f"(target <= {TARGET['bound']}): {'met' if met else 'NOT met'}"
        )

    activation_elements = batch * hidden * depth
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
            "activation_elements_per_step": activation_elements,
        },
        "keras_auto_jit_on_this_machine": auto_jit_resolution(features),
        "repetitions": repetitions,
        "steps_per_sample": inner,
        "timing": "model.train_on_batch on fixed tensors; models interleaved "
        "round-robin; ratio = median of per-round ratios",
        "results": results,
        "targets": targets,
        "step_structure": {
            "description": "loss + gradients of each model (no optimizer "
            "update) as one XLA program, optimized HLO: entry "
            "kernels, those writing a [batch, hidden] array",
            "results": structure,
        },
        "layer_diagnostic": {
            "description": "the activation layer alone at (batch, hidden), "
            "forward + backward (grads wrt input and trainable "
            "weights), tf.function without / with jit_compile; "
            "median ms per call, ratio = median of per-round "
            "ratios",
            "repetitions": layer_repetitions,
            "calls_per_sample": layer_inner,
            "results": layer,
            "launch_probe": probe,
        },
    }
    _common.write_json(
        os.path.join(_common.results_dir(args.quick), "model.json"), payload
    )
    _common.append_history(args.quick, "bench_model", payload["targets"], machine)
    _common.regenerate_summary(args.quick)


if __name__ == "__main__":
    sys.exit(main())
