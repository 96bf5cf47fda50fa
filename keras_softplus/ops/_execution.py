"""How the softplus kernel runs, decided in one place; every backend branch.

`_kernel` holds the formulas, written once with `keras.ops`; this module
decides how a call runs and calls them (they never call back):
- `execution_mode`: "fused" inline in a compiled caller, "bucketed" as one
  XLA launch per size bucket, "compiled" by `torch.compile`
  (`_torch_compiled`), or "eager" op by op;
- `wide_dtype`: whether a float32 computation takes the wide (float64)
  path; decided once per call, and passed to the formulas;
- `float32_only`: a scope with neither the wide path nor "bucketed" (LiteRT);
- the custom gradients (`softplus`, `softplus_inverse`, and their minus
  forms) and the backends' ways of passing the upstream gradient, of
  giving none, of summing a gradient back to a broadcast shape, and of
  recomputing in the backward under `torch.compile` (`for_backward`);
- `is_tensor`, `read`, `known_value`, `on_device_of`: what a value is and
  whether its values are known now, on each backend.
"""

import contextlib
import math

import keras
from keras import ops as kops

from keras_softplus.ops import _jax_kernel
from keras_softplus.ops import _kernel


def is_tensor(value):
    """Whether `value` is a backend tensor or variable (not Python/NumPy)."""
    return isinstance(value, keras.Variable) or kops.is_tensor(value)


def read(value):
    """A tensor or variable as a backend tensor holding its current value.

    On TensorFlow, `keras.ops.convert_to_tensor` returns a `keras.Variable`
    or `tf.Variable` unchanged; the kernel gets its value, as a tensor (so
    that its value can be checked like a tensor's, and a compiled caller
    need not access a variable that lives on another device, e.g. a
    mirrored one).
    """
    tensor = kops.convert_to_tensor(value)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(tensor, keras.Variable):
            tensor = tensor.value
        if isinstance(tensor, tf.Variable):
            tensor = tf.convert_to_tensor(tensor)
    return tensor


def known_value(tensor):
    """The value of `tensor` as NumPy where it is known now, without
    tracing; else None. The package's one answer to "are the values known".

    Values are known for constants of a `tf.function` graph and for eager
    tensors of every backend. Symbolic values (other graph tensors, Keras
    symbolic tensors, JAX tracers inside `jit` or `grad`, values under
    `torch.compile`) are not.
    """
    if isinstance(tensor, keras.KerasTensor):
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.get_static_value(tensor)
    if backend == "jax":
        import jax

        if isinstance(tensor, jax.core.Tracer):
            return None
    elif backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return None
    return kops.convert_to_numpy(tensor)


def on_device_of(tensor, like):
    """`tensor` on the device of `like`: on PyTorch, Keras puts new tensors
    on its default device (a GPU if there is one); elsewhere unchanged."""
    if keras.backend.backend() == "torch":
        return tensor.to(like.device)
    return tensor


def upstream_of(args, upstream_keyword):
    """The incoming gradient: JAX and TensorFlow pass it as the one
    positional argument, Keras' PyTorch backend as `upstream=`."""
    return args[0] if upstream_keyword is None else upstream_keyword


def no_gradient(tensor):
    """The gradient of an input that gets none: `None` where the backend
    accepts it (no array is formed), zeros on JAX."""
    return kops.zeros_like(tensor) if keras.backend.backend() == "jax" else None


# Process-wide, not a `ContextVar`: `torch.compile` cannot trace
# `ContextVar.get` and would break the caller's graph at every kernel call.
FLOAT32_ONLY = {"active": False}


@contextlib.contextmanager
def float32_only():
    """The scope of `keras_softplus.ops.float32_only`."""
    previous, FLOAT32_ONLY["active"] = FLOAT32_ONLY["active"], True
    try:
        yield
    finally:
        FLOAT32_ONLY["active"] = previous


# JAX platforms with native float64; TPUs have none.
JAX_FLOAT64_PLATFORMS = ("cpu", "gpu", "cuda", "rocm")


def _cpu_vendor():
    """The CPU's vendor as Linux names it ("GenuineIntel", "AuthenticAMD"),
    or "" where /proc/cpuinfo does not say."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


# Inductor's CPU code converts float32 to float64 and back through memory,
# element by element (ATen's vector types have no float/double conversion
# in torch 2.13). On an Intel Xeon (Sapphire Rapids, AVX-512) that made the
# float64 product cost more than the rest of the kernel: fwd+bwd at 2**20
# elements 2.3x the time of the error-free float32 product; on an AMD EPYC
# (AVX-512) the product took ~7% of the backward. Read once, at import, so
# that `torch.compile` traces no file access.
INDUCTOR_CONVERTS_SLOWLY = {"active": _cpu_vendor() == "GenuineIntel"}


def wide_dtype(dtype, mode=None, tensor=None):
    """float64 for a float32 computation where the backend has float64 and
    `float32_only` is not active, else None.

    `mode` and `tensor`: the `execution_mode` of the call and one of its
    tensors. PyTorch's Inductor-compiled kernels ("compiled", and "fused"
    under `torch.compile`) on a CPU where `INDUCTOR_CONVERTS_SLOWLY` take
    the error-free float32 product instead.

    JAX without `jax_enable_x64` has float64 within `wide_scope`, on CPU and
    GPU, from JAX 0.8 (`jax.enable_x64` as a scope; before, it did not work
    under `jit`). On JAX's CPU, float32 fwd+bwd at 1M elements then takes
    0.65x the time of the error-free product in float32.
    """
    if dtype != "float32" or FLOAT32_ONLY["active"]:
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if jax.config.jax_enable_x64:
            return "float64"
        native = jax.default_backend() in JAX_FLOAT64_PLATFORMS
        return "float64" if native and hasattr(jax, "enable_x64") else None
    if (
        backend == "torch"
        and mode in ("compiled", "fused")
        and INDUCTOR_CONVERTS_SLOWLY["active"]
        and tensor.device.type == "cpu"
    ):
        return None
    return "float64"


def wide_scope(wide):
    """The scope in which the kernel runs in the wide dtype `wide`: on JAX
    without `jax_enable_x64`, JAX's x64 mode for the ops traced or run
    within it (the caller's arrays and dtypes are unchanged); elsewhere a
    scope that does nothing."""
    if wide is None or keras.backend.backend() != "jax":
        return contextlib.nullcontext()
    import jax

    return jax.enable_x64(True)


def sum_to_shape(grad, like):
    """Sums `grad` over the axes along which `like` was broadcast to it."""
    shape, grad_shape = tuple(like.shape), tuple(grad.shape)
    if None not in shape and None not in grad_shape:
        leading = len(grad_shape) - len(shape)
        axes = list(range(leading)) + [
            leading + axis
            for axis, size in enumerate(shape)
            if size == 1 and grad_shape[leading + axis] != 1
        ]
        return kops.reshape(_jax_kernel.sum_over(grad, axes) if axes else grad, shape)
    import tensorflow as tf  # only TensorFlow graphs have unknown sizes

    like_shape = tf.shape(like)
    axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=like_shape, s1=tf.shape(grad))
    return tf.reshape(tf.reduce_sum(grad, axes), like_shape)


# Eager TensorFlow tensors of at least this many elements run as the
# bucketed XLA launch: there each op of the compact eager form is a pass
# over memory that costs more than the launch (16M float32 elements: 5x the
# built-in eagerly, 1.1x bucketed). Smaller ones compile nothing: compiling
# a new size bucket (tens of ms) would dominate a pass over varying shapes.
EAGER_BUCKETED_SIZE = 2**19


def execution_mode(*tensors):
    """How the kernel's ops will run: "fused" when the caller is compiled
    (a TensorFlow XLA context, JAX tracers, `torch.compile`), so that the
    compiler fuses them; "bucketed" in a TensorFlow graph that is not
    compiled, and for large eager TensorFlow tensors (one XLA launch per
    size bucket, or per shape in a graph whose shapes are all static, see
    `bucketed`); "compiled" for large eager PyTorch
    tensors (`_torch_compiled`); "eager" otherwise (one dispatch per op).
    Within `float32_only`, "fused" replaces "bucketed" (no XLA launch)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util

        if tf.executing_eagerly():
            # Eager shapes are known: no op (and no host copy) is run.
            size = max(t.shape.num_elements() for t in tensors)
            if size < EAGER_BUCKETED_SIZE:
                return "eager"
        elif control_flow_util.GraphOrParentsInXlaContext(
            tf.compat.v1.get_default_graph()
        ):
            return "fused"
        return "fused" if FLOAT32_ONLY["active"] else "bucketed"
    if backend == "jax":
        import jax

        traced = any(isinstance(t, jax.core.Tracer) for t in tensors)
        return "fused" if traced else "eager"
    import torch

    from keras_softplus.ops import _torch_compiled

    if torch.compiler.is_compiling():
        return "fused"
    large = max(t.numel() for t in tensors) >= _torch_compiled.COMPILED_SIZE
    return "compiled" if large and _torch_compiled.available() else "eager"


EAGER_GRAPHS = {}


def eager_graph(function):
    """`function` as an uncompiled `tf.function` on TensorFlow (itself
    elsewhere): called eagerly, its ops run from one dispatch instead of
    one Python dispatch each. Traced once per rank and dtype (shapes are
    relaxed after the first), never compiled by XLA."""
    if keras.backend.backend() != "tensorflow":
        return function
    if function not in EAGER_GRAPHS:
        import tensorflow as tf

        EAGER_GRAPHS[function] = tf.function(
            function, autograph=False, reduce_retracing=True
        )
    return EAGER_GRAPHS[function]


# The XLA-compiled functions of `bucketed`, one per kernel quantity.
COMPILED = {}
MIN_BUCKET = 1024


def bucket_size(size):
    """The padded size for `size` elements (a TensorFlow integer scalar):
    the next multiple of 2**(floor(log2(size)) - 3) at or above `size`, and
    at least 1024: 8 sizes per octave, at most 12.5% padding."""
    import tensorflow as tf

    magnitude = tf.cast(tf.maximum(size, MIN_BUCKET), tf.float64)
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

    A graph whose shapes are all static runs with those shapes only: there
    x and beta go to the launch as they are (one compilation, and no
    padding copy or bucket arithmetic at every call). Eager tensors, whose
    shapes are always static, keep the buckets.
    """
    import tensorflow as tf

    if function not in COMPILED:
        COMPILED[function] = tf.function(
            function, jit_compile=True, autograph=False, reduce_retracing=True
        )
    static = x.shape.is_fully_defined() and beta.shape.is_fully_defined()
    if static and not tf.executing_eagerly():
        return COMPILED[function](x, beta)
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
    result = tf.reshape(COMPILED[function](flat(x, 0.0), beta)[:size], shape)
    result.set_shape(static_shape)
    return result


def _form(function, wide):
    """`function(x, beta, wide)` as a function of `(x, beta)`, named as the
    kernel's quantity (so that each graph below is cached per quantity)."""

    def form(x, beta):
        return function(x, beta, wide)

    form.__name__ = function.__name__
    return form


# The kernel's quantities in their full form (fused, bucketed, eager
# float64), per wide dtype, and in their compact form (eager float32).
FULL_FORMS = {
    (function.__name__, wide): _form(function, wide)
    for function in (_kernel.value, _kernel.sigmoid, _kernel.dbeta)
    for wide in (None, "float64")
}
COMPACT_FORMS = {
    "value": _kernel.value_compact,
    "sigmoid": _kernel.sigmoid_compact,
    "dbeta": _kernel.dbeta_compact,
}


def evaluate(quantity, x, beta):
    """`quantity` ("value", "sigmoid" or "dbeta") of `(x, beta)`, run as
    `execution_mode` says, with the wide dtype decided here, once. Eagerly,
    float32 takes the compact float64 form op by op (1k elements fwd+bwd
    1.7 ms against 3.0 ms for a `tf.function` call); other dtypes (and
    float32 within `float32_only`) the full form, one dispatch on TensorFlow.
    """
    mode = execution_mode(x, beta)
    wide = wide_dtype(keras.backend.standardize_dtype(x.dtype), mode, x)
    full = FULL_FORMS[(quantity, wide)]
    if mode == "bucketed":
        return bucketed(full, x, beta)
    with wide_scope(wide):
        if mode == "fused":
            return full(x, beta)
        if wide:
            return COMPACT_FORMS[quantity](x, beta, wide)
        return eager_graph(full)(x, beta)


def _forward_value(x, beta):
    """The value, for the forward pass of a custom gradient. The inputs'
    gradients are stopped: TensorFlow's eager custom gradient records the
    forward ops on an outer tape, which would keep their intermediates
    alive until the tape is released (the gradient needs only x and beta)."""
    return evaluate("value", kops.stop_gradient(x), kops.stop_gradient(beta))


def for_backward(tensor):
    """`tensor` as a custom gradient's backward recomputes from it.

    Under `torch.compile`, AOTAutograd merges the backward's ops with the
    forward's identical ones and may then save the forward's boolean masks
    for the backward, which Inductor's CPU code stores slowly (float64
    fwd+bwd at 2**20 elements: 2.8x the naive form, 1.3x without them).
    `tensor * 1` (exact) gives the backward ops of its own; elsewhere
    `tensor` is returned as it is.
    """
    if keras.backend.backend() == "torch":
        import torch

        if torch.compiler.is_compiling():
            return tensor * 1
    return tensor


@kops.custom_gradient
def _softplus_learned_beta(x, beta):
    """Fused beta-softplus with gradients in `x` and `beta`.

    The gradient keeps only `x` and `beta` and recomputes its pieces (no
    stored intermediate). It is made of ordinary differentiable ops, no
    nested custom gradient: second derivatives come from their autodiff
    (accurate, as no formula cancels), and an exported SavedModel, which
    keeps only the outermost custom gradient, differentiates twice too.
    """

    def grad(*args, upstream=None):
        upstream = upstream_of(args, upstream)
        x_again = for_backward(x)
        return (
            sum_to_shape(upstream * evaluate("sigmoid", x_again, beta), x),
            sum_to_shape(upstream * evaluate("dbeta", x_again, beta), beta),
        )

    return _forward_value(x, beta), grad


@kops.custom_gradient
def _softplus_fixed_beta(x, beta):
    """Fused beta-softplus with a gradient in `x` only: d/dbeta is never
    formed, and beta gets no gradient."""

    def grad(*args, upstream=None):
        upstream = upstream_of(args, upstream)
        return (
            sum_to_shape(upstream * evaluate("sigmoid", for_backward(x), beta), x),
            no_gradient(beta),
        )

    return _forward_value(x, beta), grad


def softplus(x, beta, beta_gradient=True):
    """Fused beta-softplus of two working-dtype tensors.

    The value has the broadcast shape of `x` and `beta`; the gradients (and
    the second derivatives) are summed back to the inputs' own shapes.
    Large eager PyTorch tensors run `_torch_compiled`'s kernels.
    """
    if execution_mode(x, beta) == "compiled":
        from keras_softplus.ops import _torch_compiled

        wide = wide_dtype(keras.backend.standardize_dtype(x.dtype), "compiled", x)
        return _torch_compiled.softplus(x, beta, beta_gradient, wide)
    if beta_gradient:
        return _softplus_learned_beta(x, beta)
    return _softplus_fixed_beta(x, kops.stop_gradient(beta))


def softminus(x, beta, beta_gradient=True):
    """`x - softplus(x, beta)`, evaluated as `-softplus(-x, beta)`.

    The identity holds exactly, and the right side never subtracts two
    large numbers.
    """
    return -softplus(-x, beta, beta_gradient)


def _in_working_dtype(function, y, beta):
    """`function(y, beta)` of the kernel, float32 in the wide dtype where the
    backend has it (so `beta*y` cannot overflow), each result cast back."""
    dtype = keras.backend.standardize_dtype(y.dtype)
    wide = wide_dtype(dtype)
    with wide_scope(wide):
        if wide:
            y, beta = kops.cast(y, wide), kops.cast(beta, wide)
        results = function(y, beta)
        return keras.tree.map_structure(lambda r: kops.cast(r, dtype), results)


@kops.custom_gradient
def softplus_inverse(y, beta):
    """`log(expm1(beta*y)) / beta` of two working-dtype tensors, `y > 0`, with
    the kernel's cancellation-free partials as its gradient (ordinary
    differentiable ops, as for `softplus`)."""

    def grad(*args, upstream=None):
        upstream = upstream_of(args, upstream)
        dy, dbeta = _in_working_dtype(
            _kernel.softplus_inverse_partials, for_backward(y), beta
        )
        return sum_to_shape(upstream * dy, y), sum_to_shape(upstream * dbeta, beta)

    value = _in_working_dtype(
        _kernel.softplus_inverse, kops.stop_gradient(y), kops.stop_gradient(beta)
    )
    return value, grad


def softminus_inverse(y, beta):
    """`y - log(-expm1(beta*y)) / beta`, `y < 0`, as `-softplus_inverse(-y)`."""
    return -softplus_inverse(-y, beta)


def cumulative_sum(x, axis):
    """`keras.ops.cumsum` in the dtype of `x`; Keras' PyTorch backend sums
    float64 in float32 (Keras 3.15)."""
    if keras.backend.backend() == "torch":
        return x.cumsum(axis)
    return kops.cumsum(x, axis=axis)


def static_shape(tensor):
    """The static shape of `tensor` as a tuple (None for unknown sizes), or
    None when its rank is unknown (only TensorFlow graphs have either)."""
    shape = tensor.shape
    if getattr(shape, "rank", 0) is None:
        return None
    return tuple(None if size is None else int(size) for size in shape)


def shaped_at_run_time(y_true, like, message, suffix):
    """`y_true` reshaped to the run-time shape of `like`, after checking
    that it has that shape (or that shape without a last axis of 1), for
    TensorFlow graphs: the other backends know every shape when they trace.
    A failed check raises an `InvalidArgumentError` reading `message`, the
    shape, then `suffix`. XLA drops run-time checks: the targets are then
    NaN, which makes the loss NaN instead of a broadcast, wrong number."""
    import tensorflow as tf

    shape, like_shape = tf.shape(y_true), tf.shape(like)

    def equal(a, b):  # shapes of different ranks are padded with -1
        rank = tf.maximum(tf.size(a), tf.size(b))
        pad = lambda s: tf.pad(s, [[0, rank - tf.size(s)]], constant_values=-1)  # noqa: E731
        return tf.reduce_all(tf.equal(pad(a), pad(b)))

    valid = equal(shape, like_shape)
    if like.shape[-1] == 1:
        valid = tf.logical_or(valid, equal(shape, like_shape[:-1]))
    tf.debugging.Assert(valid, [message, shape, suffix], summarize=8)
    # Padded with NaN and cut to the size of `like`, the reshape is valid
    # for every run-time shape, so XLA compiles it whatever it receives.
    size = tf.size(like)
    flat = tf.reshape(y_true, [-1])[:size]
    flat = tf.concat([flat, tf.fill([size - tf.size(flat)], float("nan"))], 0)
    return tf.where(valid, tf.reshape(flat, like_shape), float("nan"))
