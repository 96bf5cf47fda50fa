"""The backend-specific parts of the kernel, chosen in one place.

`_kernel` writes the algorithm once with `keras.ops`; what differs between
Keras backends is here:
- `custom_gradient` and `upstream`: Keras' custom-gradient decorator, and
  the incoming gradient however the backend passes it;
- `no_gradient`: the gradient of an input that gets none;
- `sum_to_shape`: a gradient summed back to its input's (possibly dynamic,
  on TensorFlow) shape;
- `wide_dtype`: the dtype in which a float32 computation runs exactly
  (float64, where the backend computes in it).

There is no jit wrapper: the kernel's ops are traced into the caller's
function, so an XLA caller fuses them with its own ops, and a caller that is
not compiled never waits for an XLA compilation (one per input shape).
"""

import math

import keras
from keras import ops as kops


def custom_gradient(function):
    """`keras.ops.custom_gradient`; the gradient function takes `upstream`
    through `upstream(args, upstream)` below."""
    return kops.custom_gradient(function)


def upstream(args, upstream_keyword):
    """The incoming gradient: JAX and TensorFlow pass it as the one
    positional argument, Keras' PyTorch backend as `upstream=`."""
    return args[0] if upstream_keyword is None else upstream_keyword


def no_gradient(tensor):
    """The gradient of an input that gets none: `None` where the backend
    accepts it (no array is formed), zeros on JAX."""
    return kops.zeros_like(tensor) if keras.backend.backend() == "jax" else None


def wide_dtype(dtype):
    """float64 for a float32 computation where the backend has float64 (JAX
    only with `jax_enable_x64`), else None."""
    if dtype != "float32":
        return None
    if keras.backend.backend() == "jax":
        import jax

        return "float64" if jax.config.jax_enable_x64 else None
    return "float64"


def _static_sum_to_shape(grad, shape):
    grad_shape = tuple(grad.shape)
    if grad_shape == shape:
        return grad
    leading = len(grad_shape) - len(shape)
    axes = list(range(leading)) + [
        leading + axis
        for axis, size in enumerate(shape)
        if size == 1 and grad_shape[leading + axis] != 1
    ]
    if axes:
        grad = kops.sum(grad, axis=axes)
    return kops.reshape(grad, shape)


def sum_to_shape(grad, like):
    """Sums `grad` over the axes along which `like` was broadcast to it."""
    shape = tuple(like.shape)
    if None not in shape and None not in tuple(grad.shape):
        return _static_sum_to_shape(grad, shape)
    import tensorflow as tf  # only TensorFlow graphs have unknown sizes

    like_shape = tf.shape(like)
    axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=like_shape, s1=tf.shape(grad))
    return tf.reshape(tf.reduce_sum(grad, axes), like_shape)


# Eager TensorFlow tensors of at least this many elements run as the
# bucketed XLA launch ("graph"): there each op of the compact eager form is a
# pass over memory that costs more than the launch (measured: 16M float32
# elements 5x the built-in eagerly, 1.1x bucketed). Smaller ones keep the
# compact form and compile nothing: the compilation of a new size bucket
# (tens of ms) would dominate a first pass over varying shapes.
_EAGER_BUCKETED_SIZE = 2**19


def execution(*tensors):
    """How the kernel's ops will run: "fused" when the caller is compiled
    (a TensorFlow XLA context, JAX tracers, `torch.compile`), so that the
    compiler fuses them; "graph" in a TensorFlow graph that is not
    compiled, and for large eager TensorFlow tensors (one XLA launch per
    size bucket, see `bucketed`); "eager" otherwise (one dispatch per op)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util

        if tf.executing_eagerly():
            # Eager shapes are known: no op (and no host copy) is run.
            size = max(t.shape.num_elements() for t in tensors)
            return "graph" if size >= _EAGER_BUCKETED_SIZE else "eager"
        graph = tf.compat.v1.get_default_graph()
        return (
            "fused" if control_flow_util.GraphOrParentsInXlaContext(graph) else "graph"
        )
    if backend == "jax":
        import jax

        return (
            "fused" if any(isinstance(t, jax.core.Tracer) for t in tensors) else "eager"
        )
    import torch

    return "fused" if torch.compiler.is_compiling() else "eager"


_GRAPHS = {}


def eager_graph(function):
    """`function` as an uncompiled `tf.function` on TensorFlow (itself
    elsewhere): called eagerly, its ops run from one dispatch instead of
    one Python dispatch each. Traced once per rank and dtype (shapes are
    relaxed after the first), never compiled by XLA."""
    if keras.backend.backend() != "tensorflow":
        return function
    if function not in _GRAPHS:
        import tensorflow as tf

        _GRAPHS[function] = tf.function(
            function, autograph=False, reduce_retracing=True
        )
    return _GRAPHS[function]


_COMPILED = {}
_MIN_BUCKET = 1024


def bucket_size(size):
    """The padded size for `size` elements (a TensorFlow integer scalar):
    the next multiple of 2**(floor(log2(size)) - 3) at or above `size`, and
    at least 1024: 8 sizes per octave, at most 12.5% padding."""
    import tensorflow as tf

    magnitude = tf.cast(tf.maximum(size, _MIN_BUCKET), tf.float64)
    octave = tf.math.floor(tf.math.log(magnitude) / math.log(2.0))
    step = tf.pow(tf.constant(2.0, tf.float64), octave - 3.0)
    return tf.cast(tf.math.ceil(magnitude / step) * step, size.dtype)


def bucketed(function, x, beta):
    """`function(x, beta)` (elementwise) in a TensorFlow graph that is not
    compiled, as one XLA launch on a 1-D buffer padded to a size bucket.

    XLA compiles once per input shape. Flattened and padded to the next of
    8 sizes per octave (at most 12.5% padding, at least 1024 elements),
    every shape of a size bucket shares one compilation, so variable
    sequence lengths in `fit` cost a few compilations, not one each. x is
    padded with 0 and beta with 1, where the kernel is finite.
    """
    import tensorflow as tf

    if function not in _COMPILED:
        _COMPILED[function] = tf.function(
            function, jit_compile=True, autograph=False, reduce_retracing=True
        )
    static_shape = tf.broadcast_static_shape(x.shape, beta.shape)
    shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(beta))
    size = tf.reduce_prod(shape)
    bucket = bucket_size(size)
    padding = [[0, bucket - size]]

    def flat(tensor, fill):
        tensor = tf.reshape(tf.broadcast_to(tensor, shape), [-1])
        return tf.pad(tensor, padding, constant_values=fill)

    if beta.shape.num_elements() == 1:
        beta = tf.reshape(beta, [])
    else:
        beta = flat(beta, 1.0)
    result = tf.reshape(_COMPILED[function](flat(x, 0.0), beta)[:size], shape)
    result.set_shape(static_shape)
    return result
