"""The softplus kernel compiled by Inductor, for eager PyTorch.

Eager PyTorch runs each `keras.ops` call of the kernel as a pass over
memory of its own, some thirty for the value and its gradients. Compiled
by Inductor, the forward is one fused pass that reads x and writes the
value, and the backward one more that reads x and the upstream gradient,
writes d/dx and sums d/dbeta to the shape of beta. The formulas are
`_kernel`'s, unchanged, so the accuracy is the compiled kernel's on every
backend.

Each function is traced with symbolic sizes (`make_fx`) and compiled once
per dtype, device, rank and pattern of sizes 0 and 1; new batch sizes reuse
it, and a scalar beta is passed as a 0-d tensor with x flattened, so that
every shape of x shares one compilation. The compiled functions are called
directly, not through TorchDynamo, which would check some 300 guards at
every call. `_execution.execution_mode` sends eager tensors of
`COMPILED_SIZE` elements or more here. Where compilation fails (for
example without a C++ compiler on CPU), a warning names the error and the
eager forms are used from then on.
"""

import functools
import math
import warnings

import torch

from keras_softplus.ops import _kernel

# The first call compiles (seconds); each later one saves most of the
# eager form's passes. Below this size a tensor is small enough for the
# eager form (~1 ms at 64k elements), and such calls (heads on a batch of
# scalars, tests, single predictions) never wait for a compilation.
COMPILED_SIZE = 2**16
COMPILED = {}
FAILURES = []


def available():
    """Whether compiled kernels are used (no compilation has failed)."""
    return not FAILURES


def _value(x, beta, wide):
    return (_kernel.value(x, beta, wide),)


def _gradients(x, beta, upstream, wide, beta_gradient):
    """`(d/dx, d/dbeta)` times `upstream`, each summed to its input's shape
    (d/dx alone without `beta_gradient`)."""
    dx = (upstream * _kernel.sigmoid(x, beta, wide)).sum_to_size(x.shape)
    if not beta_gradient:
        return (dx,)
    dbeta = upstream * _kernel.dbeta(x, beta, wide)
    return dx, dbeta.sum_to_size(beta.shape)


def _signature(tensor):
    """What a compiled function is specialised on: dtype, device, rank, and
    which sizes are 0 or 1 (the others are symbolic)."""
    return tensor.dtype, tensor.device, tuple(min(size, 2) for size in tensor.shape)


# Sizes of the example that a function is traced with: Inductor decides
# from them whether to split a loop across threads (and caches that
# decision for every size), so they stand for a large tensor.
TRACED_ELEMENTS = 2**20


def _example(tensor, free_sizes):
    """An uninitialised tensor like `tensor`, each size above 1 replaced by
    one large size, so that `free_sizes` of them make `TRACED_ELEMENTS`
    (tensors that broadcast together still do)."""
    size = math.ceil(TRACED_ELEMENTS ** (1 / max(free_sizes, 1)))
    shape = [dim if dim < 2 else size for dim in tensor.shape]
    return torch.empty(shape, dtype=tensor.dtype, device=tensor.device)


def _compile(function, tensors):
    """`function` traced with symbolic sizes and compiled by Inductor.

    Called without TorchDynamo, it checks no guards (`torch.compile`'s
    check costs ~0.1 ms per call): the caller keys it by `_signature`.
    Without duck sizing, sizes equal in the example stay distinct symbols.
    """
    from torch._inductor import compile as inductor_compile
    from torch.fx.experimental import _config as fx_config
    from torch.fx.experimental.proxy_tensor import make_fx

    free_sizes = max(sum(dim > 1 for dim in tensor.shape) for tensor in tensors)
    examples = [_example(tensor, free_sizes) for tensor in tensors]
    with fx_config.patch(use_duck_shape=False):
        graph = make_fx(function, tracing_mode="symbolic")(*examples)
    inputs = [
        node.meta["val"] for node in graph.graph.nodes if node.op == "placeholder"
    ]
    return inductor_compile(graph, inputs)


def _run(function, tensors, **options):
    """`function(*tensors, **options)` compiled (once per signature of the
    tensors), or as it is if compilation has failed or autograd records it
    (a backward with `create_graph=True`: its ops are then differentiated,
    for second derivatives). Tensors are made contiguous, as compiled."""
    tensors = [tensor.contiguous() for tensor in tensors]
    if available() and not torch.is_grad_enabled():
        key = (function.__name__, tuple(sorted(options.items())))
        key += tuple(_signature(tensor) for tensor in tensors)
        try:
            if key not in COMPILED:
                COMPILED[key] = _compile(
                    functools.partial(function, **options), tensors
                )
            return tuple(COMPILED[key](*tensors))
        except Exception as error:  # noqa: BLE001 (compilers fail in many ways)
            FAILURES.append(error)
            warnings.warn(
                "keras_softplus could not compile its PyTorch kernel and runs "
                f"it op by op from now on (slower, equally accurate): {error!r}",
                stacklevel=3,
            )
    return function(*tensors, **options)


class _Softplus(torch.autograd.Function):
    """Keeps x and beta; the backward recomputes the kernel's pieces."""

    @staticmethod
    def forward(ctx, x, beta, wide, beta_gradient):
        ctx.save_for_backward(x, beta)
        ctx.wide, ctx.beta_gradient = wide, beta_gradient
        (value,) = _run(_value, (x, beta), wide=wide)
        return value

    @staticmethod
    def backward(ctx, upstream):
        x, beta = ctx.saved_tensors
        beta_gradient = ctx.beta_gradient and ctx.needs_input_grad[1]
        gradients = _run(
            _gradients,
            (x, beta, upstream),
            wide=ctx.wide,
            beta_gradient=beta_gradient,
        )
        dbeta = gradients[1] if beta_gradient else None
        return gradients[0], dbeta, None, None


def softplus(x, beta, beta_gradient, wide):
    """`_execution.softplus` for an eager PyTorch caller, compiled; `wide` as
    `_execution.wide_dtype` decides."""
    if beta.numel() == 1 and beta.dim() <= x.dim():
        # One compilation for every shape of x: flat x, 0-d beta (reshape
        # of a contiguous tensor is a view; autograd reshapes back).
        flat = _Softplus.apply(x.reshape(-1), beta.reshape(()), wide, beta_gradient)
        return flat.reshape(x.shape)
    return _Softplus.apply(x, beta, wide, beta_gradient)
