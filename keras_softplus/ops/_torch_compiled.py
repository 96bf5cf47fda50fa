"""The softplus kernel as `torch.compile`d functions, for eager PyTorch.

Eager PyTorch runs each `keras.ops` call of the kernel as a pass over
memory of its own, some thirty for the value and its gradients. Compiled
by Inductor, the forward is one fused pass that reads x and writes the
value, and the backward one more that reads x and the upstream gradient,
writes d/dx and sums d/dbeta to the shape of beta. The formulas are
`_kernel`'s, unchanged, so the accuracy is the compiled kernel's on every
backend.

Each function is compiled once per dtype, rank and shape pattern of beta
(`dynamic=True`: sizes are symbolic, so new batch sizes reuse it); a
scalar beta is passed as a 0-d tensor and x flattened, so that every shape
of x shares one compilation. `_execution.execution_mode` sends eager
tensors of `COMPILED_SIZE` elements or more here. Where compilation fails
(for example without a C++ compiler on CPU), a warning names the error and
the eager forms are used from then on.
"""

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
    return _kernel.value(x, beta, wide)


def _gradients(x, beta, upstream, wide, beta_gradient):
    """`(d/dx, d/dbeta)` times `upstream`, each summed to its input's shape
    (d/dbeta None without `beta_gradient`)."""
    dx = (upstream * _kernel.sigmoid(x, beta, wide)).sum_to_size(x.shape)
    if not beta_gradient:
        return dx, None
    dbeta = upstream * _kernel.dbeta(x, beta, wide)
    return dx, dbeta.sum_to_size(beta.shape)


def _run(function, *args):
    """`function(*args)` compiled, or as it is if compilation has failed or
    autograd records it (a backward with `create_graph=True`: its ops are
    then differentiated, for second derivatives)."""
    if available() and not torch.is_grad_enabled():
        if function not in COMPILED:
            COMPILED[function] = torch.compile(function, dynamic=True, fullgraph=True)
        try:
            return COMPILED[function](*args)
        except Exception as error:  # noqa: BLE001 (compilers fail in many ways)
            FAILURES.append(error)
            warnings.warn(
                "keras_softplus could not compile its PyTorch kernel and runs "
                f"it op by op from now on (slower, equally accurate): {error!r}",
                stacklevel=3,
            )
    return function(*args)


class _Softplus(torch.autograd.Function):
    """Keeps x and beta; the backward recomputes the kernel's pieces."""

    @staticmethod
    def forward(ctx, x, beta, wide, beta_gradient):
        ctx.save_for_backward(x, beta)
        ctx.wide, ctx.beta_gradient = wide, beta_gradient
        return _run(_value, x, beta, wide)

    @staticmethod
    def backward(ctx, upstream):
        x, beta = ctx.saved_tensors
        beta_gradient = ctx.beta_gradient and ctx.needs_input_grad[1]
        dx, dbeta = _run(
            _gradients, x, beta, upstream.contiguous(), ctx.wide, beta_gradient
        )
        return dx, dbeta, None, None


def softplus(x, beta, beta_gradient, wide):
    """`_execution.softplus` for an eager PyTorch caller, compiled; `wide` as
    `_execution.wide_dtype` decides."""
    if beta.numel() == 1 and beta.dim() <= x.dim():
        # One compilation for every shape of x: flat x, 0-d beta (reshape
        # of a contiguous tensor is a view; autograd reshapes back).
        flat = _Softplus.apply(x.reshape(-1), beta.reshape(()), wide, beta_gradient)
        return flat.reshape(x.shape)
    return _Softplus.apply(x, beta, wide, beta_gradient)
