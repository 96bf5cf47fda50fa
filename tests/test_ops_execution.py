"""Tests of `keras_softplus.ops._execution`: how the kernel runs (fused under
XLA, one XLA launch per size bucket in uncompiled graphs, op by op eagerly)."""

import re

import numpy as np
import pytest
import tensorflow as tf
from input_grids import seeded_normal

from keras_softplus import ops
from keras_softplus.ops import _execution


def gradients(function, x, beta, **kwargs):
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = function(x, beta, **kwargs)
    return tape.gradient(y, [x, beta])


HLO_SIZE = 4099  # a size no other array of the step has


def full_size_arrays_written(function, beta):
    """Full-size arrays that the optimized HLO of the jit-compiled function
    writes besides its outputs (intermediates stored and read back)."""
    x = tf.constant(np.linspace(-9, 9, HLO_SIZE), tf.float32)
    hlo = tf.function(function, jit_compile=True).experimental_get_compiler_ir(
        x, beta, x
    )(stage="optimized_hlo")
    entry = hlo[hlo.index("ENTRY") :]
    entry = entry[: entry.index("\n}")]
    root = entry[entry.index("ROOT") :]
    outputs = set(re.findall(r"%([\w.\-]+)", root.split("tuple(", 1)[1]))
    written = re.findall(rf"%([\w.\-]+) = \w+\[{HLO_SIZE}\]\S* (?!parameter)", entry)
    return [name for name in written if name not in outputs]


def step_with_learned_beta(x, beta, dy):
    with tf.GradientTape() as tape:
        tape.watch([x, beta])
        y = ops.softplus(x, beta)
    return (y, *tape.gradient(y, [x, beta], output_gradients=dy))


def step_with_python_beta(x, beta, dy):
    del beta
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.softplus(x, 1.7)
    return y, tape.gradient(y, x, output_gradients=dy)


def step_with_fixed_tensor_beta(x, beta, dy):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.softplus(x, beta, beta_gradient=False)
    return y, tape.gradient(y, x, output_gradients=dy)


# XLA:CPU stores an exp or a divide that has consumers in several fusions.
# The float32 kernel computes exp in float32 (half the cost of float64 on a
# compute-bound CPU), and then XLA stores the forward's exp and divide (and,
# with a learned beta, the shared pieces of the beta term) instead of
# recomputing them: these are the counts of that design, kept from growing.
# A float64 form reached 1 and 0 but cost 1.6x the time on this CPU.
@pytest.mark.parametrize(
    "step, allowed",
    [
        (step_with_learned_beta, 6),
        (step_with_python_beta, 2),
        (step_with_fixed_tensor_beta, 2),
    ],
    ids=["learned_beta", "python_beta", "fixed_tensor_beta"],
)
def test_jit_step_stores_no_more_intermediates_than_the_kernel_design(step, allowed):
    written = full_size_arrays_written(step, tf.constant(1.7))
    assert len(written) <= allowed, written


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eager_calls_compile_nothing_and_graph_calls_share_size_buckets(dtype):
    _execution.COMPILED.clear()
    beta = tf.Variable(1.3, dtype=dtype)
    for length in range(1, 40, 3):
        gradients(ops.softplus, tf.ones((2, length), dtype), beta)
    assert not _execution.COMPILED
    sizes = np.arange(1, 300_000, 37)
    buckets = tf.function(_execution.bucket_size)(tf.constant(sizes)).numpy()
    assert np.all(buckets >= sizes) and np.all(
        buckets <= np.maximum(1.125 * sizes, 1024)
    )
    assert len(set(buckets)) <= 8 * 9  # 8 per octave from 1024 to 2**19


def uncompiled_graph_step(beta, shape):
    """Value and gradients of `ops.softplus` in a `tf.function` (no XLA)
    whose input has the static shape `shape`."""
    return tf.function(
        lambda x: (ops.softplus(x, beta), *gradients(ops.softplus, x, beta)),
        input_signature=[tf.TensorSpec(shape, tf.float32)],
    )


def assert_graph_matches_eager(graph_step, x, beta):
    expected = (ops.softplus(x, beta), *gradients(ops.softplus, x, beta))
    for got, want in zip(graph_step(x), expected, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=3e-6)


def test_uncompiled_graph_with_unknown_lengths_matches_eager():
    beta = tf.Variable([0.7, 1.3, 2.0])
    graph_step = uncompiled_graph_step(beta, [None, None, 3])
    for length in (1, 5, 700):
        x = tf.constant(seeded_normal((2, length, 3), seed=length, scale=5.0))
        assert_graph_matches_eager(graph_step, x, beta)


@pytest.mark.parametrize(
    "shape, padded",
    [
        pytest.param((2, 700, 3), False, id="static_shape"),
        pytest.param((2, None, 3), True, id="unknown_length"),
    ],
)
def test_uncompiled_graph_pads_to_a_bucket_only_for_unknown_shapes(shape, padded):
    beta = tf.Variable([0.7, 1.3, 2.0])
    graph_step = uncompiled_graph_step(beta, shape)
    graph = graph_step.get_concrete_function().graph
    pads = [op for op in graph.get_operations() if op.type in ("Pad", "PadV2")]
    assert bool(pads) == padded
    x = tf.constant(seeded_normal((2, 700, 3), seed=7, scale=5.0))
    assert_graph_matches_eager(graph_step, x, beta)
