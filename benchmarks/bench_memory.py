"""What the softplus gradient keeps for backward, and peak memory, on CPU.

Two independent views, for float32 vectors of N elements:

1. Graph: `tf.function` splits a differentiated call into a forward function
   that returns, next to its outputs, every tensor the backward function
   needs. Those extra outputs are what stays alive between forward and
   backward. They are counted (after following Identity/IdentityN aliases to
   the tensor that owns the buffer) and split into inputs (x, beta) and
   intermediates. This reads the private
   `ConcreteFunction._delayed_rewrite_functions.forward_backward()`; if a
   TensorFlow release removes it, the section is recorded as unavailable.

2. Runtime: `tf.config.experimental.get_memory_info("CPU:0")` counts the
   bytes held by TensorFlow's CPU allocator (checked at start-up to be
   non-zero after an allocation). Measured above a baseline that already
   holds x, dy and beta, in multiples of one N-element array:
   - held: bytes alive after the forward under a live GradientTape, minus
     the output y itself: what is kept for backward (tape-split forward and
     backward, as when a layer call is differentiated from outside).
   - peak_split: peak over that forward plus the backward.
   - peak_step: peak of one function that does forward and backward (a
     training step), returning y and the gradients (2 arrays at least).
   Each in eager mode, `tf.function`, and `tf.function(jit_compile=True)`.

Candidates: `DESCRIPTIONS` below.

Usage: python benchmarks/bench_memory.py [--quick]
"""

import argparse
import gc
import os
import sys

import _common
import make_summary
import numpy as np
import tensorflow as tf

from keras_softplus import ops

FIXED_BETA = 1.7


CANDIDATES = {
    "builtin": lambda x, b: tf.nn.softplus(FIXED_BETA * x) / FIXED_BETA,
    "plain": lambda x, b: tf.nn.softplus(x),
    "naive": lambda x, b: tf.nn.softplus(b * x) / b,
    "ours": lambda x, b: ops.softplus(x, b),
    "copy": lambda x, b: x * 2.0,
}
DESCRIPTIONS = {
    "builtin": "tf.nn.softplus(B*x)/B, B a Python constant",
    "plain": "tf.nn.softplus(x) (beta = 1; keras.activations.softplus)",
    "naive": "tf.nn.softplus(b*x)/b, b a tensor, autodiff",
    "ours": "keras_softplus.ops.softplus(x, b), fused custom gradient",
    "copy": "x*2",
}
MODES = {
    "eager": lambda f: f,
    "tf_function": lambda f: tf.function(f),
    "jit": lambda f: tf.function(f, jit_compile=True),
}
ALIAS_OPS = ("Identity", "IdentityN")


def _owner(tensor):
    """The tensor whose buffer `tensor` aliases (through Identity ops)."""
    while tensor.op.type in ALIAS_OPS:
        tensor = tensor.op.inputs[tensor.value_index]
    return tensor


def _kind(owner):
    return "constant" if owner.op.type == "Const" else "intermediate"


def saved_for_backward(function, size):
    """Tensors the forward function hands to the backward function."""
    spec = (tf.TensorSpec([size], tf.float32), tf.TensorSpec([], tf.float32))
    concrete = tf.function(function).get_concrete_function(*spec)
    # Count the function's own outputs first: building the forward function
    # appends the saved tensors to the graph's outputs.
    n_own = len(concrete.outputs)
    try:
        forward, _ = concrete._delayed_rewrite_functions.forward_backward()
        forward_outputs = list(forward.graph.outputs)
    except Exception as error:  # private API; record its absence
        return {"available": False, "error": repr(error)}
    saved = forward_outputs[n_own:]
    inputs = {t.name for t in forward.graph.inputs}
    owners = {}
    for tensor in saved:
        owner = _owner(tensor)
        owners.setdefault(owner.name, owner)
    entries = []
    for name, owner in owners.items():
        elements = owner.shape.num_elements()
        entries.append(
            {
                "tensor": name,
                "op": owner.op.type,
                "kind": "input" if name in inputs else _kind(owner),
                "elements": elements,
                "bytes": elements * owner.dtype.size if elements is not None else None,
            }
        )
    full = [e for e in entries if e["elements"] == size]
    return {
        "available": True,
        "saved_outputs": len(saved),
        "saved_output_names": [t.name for t in saved],
        "saved_output_owners": [_owner(t).name for t in saved],
        "saved_buffers": entries,
        "full_size_buffers": len(full),
        "full_size_intermediates": sum(e["kind"] == "intermediate" for e in full),
        "full_size_bytes": sum(e["bytes"] for e in full),
        "intermediate_bytes": sum(
            e["bytes"] for e in entries if e["kind"] == "intermediate"
        ),
    }


def _memory():
    return tf.config.experimental.get_memory_info("CPU:0")


def _reset():
    tf.config.experimental.reset_memory_stats("CPU:0")


def allocator_stats_work():
    _reset()
    before = _memory()["current"]
    probe = tf.zeros([1 << 20]) + 1.0
    works = _memory()["current"] - before >= 4 * (1 << 20)
    del probe
    return works


def runtime_memory(function, wrap, x, b, dy):
    array_bytes = x.shape.num_elements() * 4
    forward = wrap(function)

    def step(x, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            y = function(x, b)
        return (y, *tape.gradient(y, [x, b], output_gradients=dy))

    step = wrap(step)

    def split():
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            y = forward(x, b)
        return tape, y

    # Warm up both paths (tracing, XLA compilation, kernel caches).
    tape, y = split()
    tape.gradient(y, [x, b], output_gradients=dy)
    del tape, y
    step(x, b, dy)
    gc.collect()

    base = _memory()["current"]
    _reset()
    tape, y = split()
    held = _memory()["current"] - base - array_bytes
    grads = tape.gradient(y, [x, b], output_gradients=dy)
    peak_split = _memory()["peak"] - base
    del tape, y, grads
    gc.collect()

    base = _memory()["current"]
    _reset()
    outputs = step(x, b, dy)
    peak_step = _memory()["peak"] - base
    del outputs
    gc.collect()
    leftover = _memory()["current"] - base
    return {
        "held_bytes": held,
        "held_arrays": held / array_bytes,
        "peak_split_bytes": peak_split,
        "peak_split_arrays": peak_split / array_bytes,
        "peak_step_bytes": peak_step,
        "peak_step_arrays": peak_step / array_bytes,
        "leftover_bytes_after_release": leftover,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64K elements")
    args = parser.parse_args()
    size = 65_536 if args.quick else 4_000_000
    machine = _common.machine_info()
    _common.print_machine(machine)

    graph = {name: saved_for_backward(f, size) for name, f in CANDIDATES.items()}

    stats_ok = allocator_stats_work()
    runtime = {}
    if stats_ok:
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(0, 4, size).astype(np.float32))
        dy = tf.constant(rng.normal(0, 1, size).astype(np.float32))
        b = tf.constant(FIXED_BETA)
        for name, function in CANDIDATES.items():
            runtime[name] = {
                mode: runtime_memory(function, wrap, x, b, dy)
                for mode, wrap in MODES.items()
            }
    else:
        print("get_memory_info('CPU:0') counts nothing here; runtime skipped")

    ours_graph = graph["ours"]
    targets = {}
    if ours_graph["available"]:
        targets["graph: ours saves no full-size intermediate"] = {
            "measured": ours_graph["full_size_intermediates"],
            "target": "== 0",
            "met": ours_graph["full_size_intermediates"] == 0,
        }
    for mode in MODES:
        if runtime:
            held = runtime["ours"][mode]["held_arrays"]
            targets[f"runtime {mode}: ours holds nothing beyond x for backward"] = {
                "measured": held,
                "target": "<= 0.1 arrays",
                "met": held <= 0.1,
            }

    payload = {
        "benchmark": "bench_memory",
        "quick": args.quick,
        "machine": machine,
        "device": machine["device"],
        "dtype": "float32",
        "elements": size,
        "array_bytes": size * 4,
        "candidates": DESCRIPTIONS,
        "allocator_stats_available": stats_ok,
        "graph_saved_for_backward": graph,
        "runtime": runtime,
        "targets": targets,
    }
    print("\n".join(make_summary.memory_section(payload)))
    _common.write_json(
        os.path.join(_common.results_dir(args.quick), "memory.json"), payload
    )


if __name__ == "__main__":
    sys.exit(main())
