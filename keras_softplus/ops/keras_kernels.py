"""`keras.ops` kernels of the beta-softplus family, for JAX and PyTorch.

The same functions as `tf_kernels` (`softplus`, `softminus`,
`softplus_inverse`, on two tensors of one working dtype, float32 or float64),
with the same formulas and the per-dtype thresholds of `_constants`, written
with `keras.ops` and `keras.ops.custom_gradient` so that they run on every
Keras backend. `keras_softplus.ops._kernels()` uses them under JAX and
PyTorch; TensorFlow keeps `tf_kernels`.

Differences from `tf_kernels`, forced by what `keras.ops` offers on every
backend:
- Constants enter `keras.ops` functions as tensors of the working dtype
  (`zeros_like(x) + c`), never as bare Python floats, and
  `keras.ops.minimum`/`maximum` are not used: on PyTorch (Keras 3.15)
  `where` of two Python floats gives `floatx()`, and `minimum` returns
  float32 even for two float64 tensors, either of which would drop float64
  to float32. Python operators (`x + c`) keep the tensor's dtype on every
  backend.
- The error-free product splits its factors with Veltkamp's
  multiply-and-subtract instead of bit masks (see `_split`), written so that
  a fused multiply-add cannot change it.
- `keras.ops.custom_gradient` on PyTorch supports one output per function,
  so the pair `(sigmoid, d/dbeta)` travels stacked along a new first axis.
- Gradients are summed back to the input shapes with static shapes, which
  JAX and PyTorch always have.

Notation: `z = beta * x`, `a = |z|`, `e = exp(-a)`, `sigmoid(-a) = e/(1+e)`,
and `g(z) = z*sigmoid(z) - softplus(z)`, the numerator of d/dbeta.
"""

import keras
from keras import ops as kops

from keras_softplus.ops._constants import constants_for


def _constants(tensor):
    return constants_for(keras.backend.standardize_dtype(tensor.dtype))


def _split(a, consts):
    """Veltkamp split `a = hi + lo`, each half short enough to multiply exactly.

    Formula (Veltkamp, in Dekker 1971), `s = split_bits = ceil(p/2)`:
    `c = fl((2**s + 1) * a)`, `hi = c - (c - a)`, `lo = a - hi`; `hi` has at
    most `p - s` significant bits, `lo` at most `s - 1` plus a sign, and all
    three subtractions are exact.

    `c` is formed as `a * 2**s + a`: the product by a power of two is exact,
    so `c` is rounded once whether or not a compiler fuses the two into an
    FMA. Written as `(2**s + 1) * a`, a compiler that contracts (XLA's and
    Inductor's GPU code generators may) could evaluate `c - a` as
    `fma(2**s + 1, a, -a)`, which skips the rounding of `c` and breaks the
    split.

    `a * 2**s` overflows for `|a| > max / 2**(s+1)`; there `a` is scaled by
    `2**-(s+1)` first and the halves scaled back, both exact (a power of
    two, far from underflow). At `|a| == inf` the halves are NaN, and the
    caller discards the correction.
    """
    power = float(2**consts.split_bits)
    rescale = 2.0 * power
    large = kops.abs(a) > consts.max / rescale
    zero = kops.zeros_like(a)
    scale = kops.where(large, zero + 1.0 / rescale, zero + 1.0)
    a_scaled = a * scale
    c = a_scaled * power + a_scaled
    hi = c - (c - a_scaled)
    lo = a_scaled - hi
    return hi / scale, lo / scale


def _two_product(a, b, consts):
    """Error-free product: `hi = fl(a*b)` and `hi + lo == a*b` exactly.

    Dekker's TwoProduct. Every partial product of the split halves is exact
    (at most `p` significant bits), so contracting one into an FMA changes
    nothing, and the sum below recovers the rounding error of `a*b`; `hi`
    itself must stay rounded (it is also an output, so compilers keep it).
    Exactness is tested on XLA:CPU under `jax.jit` and on PyTorch. The
    rounding of `beta*x` alone would cost `|z|/2` ulp in the far tail, where
    softplus and sigmoid behave like `exp(z)`. Where the partial products
    overflow (|a*b| near the dtype's max) or a factor is infinite, `lo` is
    set to 0; it is irrelevant there.
    """
    hi = a * b
    a_hi, a_lo = _split(a, consts)
    b_hi, b_lo = _split(b, consts)
    lo = a_lo * b_lo - (((hi - a_hi * b_hi) - a_lo * b_hi) - a_hi * b_lo)
    lo = kops.where(kops.isfinite(lo), lo, kops.zeros_like(lo))
    return hi, lo


def _log1p_unit(e, consts):
    """`log1p(e)` for `0 <= e <= 1` as an unevaluated sum `lead + tail`.

    Formula: `log1p(e) = 2*atanh(t) = 2t + 2t * sum_k t**(2k)/(2k+1)`,
    `t = e/(2+e)` in [0, 1/3]; the number of terms (`log1p_terms`) is the
    smallest whose truncation error is below eps/4. `lead = 2t` is added
    last, by the caller, so the polynomial's rounding is damped by
    `t**2/3 <= 1/27`. The rounding error `dl` of `2+e` (exact by Fast2Sum,
    as 2 >= e) is fed back as `-2t*dl/(2+e)`. Backends' own `log1p` differ
    by a few ulp; the series gives every backend the same accuracy.
    """
    denominator = 2.0 + e
    denominator_error = e - (denominator - 2.0)
    t = e / denominator
    t_squared = t * t
    series = kops.zeros_like(t)
    for coefficient in reversed(consts.log1p_terms):
        series = (series + coefficient) * t_squared
    lead = 2.0 * t
    return lead, lead * (series - denominator_error / denominator)


class _Pieces:
    """Shared intermediates of the value and both derivatives.

    Attributes (`z = z_hi + z_lo` exactly, `a = |z_hi|`):
        z_hi, z_lo: error-free `beta * x`.
        a: `|z_hi|`, clipped to the dtype's max so that `a * 0 == 0`.
        negative: `z_hi < 0`.
        unshift: 1 where `exp(-a)` is a normal number; `exp(-tail_shift)`
            in the deep tail, where `e`, `q` and `log1p_e` below carry a
            factor `exp(tail_shift)` that keeps them normal.
        q: `sigmoid(-a) = e/(1+e)` (shifted in the deep tail).
        p: `sigmoid(a) = 1/(1+e)`.
        log1p_lead, log1p_tail: `log1p(e) = log1p_lead + log1p_tail`, the
            tail much smaller (shifted in the deep tail).
        log1p_e: their sum.
    """

    def __init__(self, x, beta):
        consts = _constants(x)
        self.z_hi, self.z_lo = _two_product(beta, x, consts)
        self.negative = self.z_hi < 0
        zero = kops.zeros_like(self.z_hi)
        magnitude = kops.abs(self.z_hi)
        self.a = kops.where(magnitude > consts.max, zero + consts.max, magnitude)
        # Deep tail, a > deep_tail = -log(16 * tiny / eps): the first-order
        # corrections (relative size eps) of exp(-a) would fall below the
        # smallest normal and be flushed to zero (XLA:CPU flushes
        # subnormals), so the kernel works on exp(tail_shift - a) and
        # multiplies by unshift = exp(-tail_shift) at the end.
        deep = self.a > consts.deep_tail
        shift = kops.where(deep, zero + consts.tail_shift, zero)
        self.unshift = kops.where(deep, zero + consts.unshift, zero + 1.0)
        # `shift - a` is exact: shift is an integer no larger than a.
        e = kops.exp(shift - self.a)
        one_plus_e = 1.0 + e
        self.q = e / one_plus_e
        self.p = 1.0 / one_plus_e
        self.log1p_lead, self.log1p_tail = _log1p_unit(e, consts)
        self.log1p_e = self.log1p_lead + self.log1p_tail


def _softplus_value(x, beta):
    """`log1p(exp(beta*x)) / beta`."""
    pieces = _Pieces(x, beta)
    # z >= 0: softplus(z) = z + log1p(exp(-z)), so the value is x (exact)
    # plus a small positive term. The rounding of z barely matters here
    # (relative sensitivity z*sigmoid(-z) of a term that is < x).
    positive = x + (pieces.log1p_e / beta) * pieces.unshift
    # z < 0: softplus(z_hi + z_lo) = log1p(e) + sigmoid(z_hi) * z_lo, the
    # first-order correction for the rounding of beta*x (second order is
    # below eps**2 * |z|**2), added to the small tail of log1p before the
    # lead, saving a rounding. Dividing by beta before unshifting keeps the
    # intermediate normal.
    softplus_negative = pieces.log1p_lead + (
        pieces.log1p_tail + pieces.q * pieces.z_lo
    )
    negative = (softplus_negative / beta) * pieces.unshift
    return kops.where(pieces.negative, negative, positive)


def _sigmoid_and_dbeta(x, beta):
    """`(sigmoid(beta*x), g(beta*x) / beta**2)`, the partials of the value."""
    pieces = _Pieces(x, beta)
    q, p, a = pieces.q, pieces.p, pieces.a
    # z < 0: sigmoid(z_hi + z_lo) = q + q*p*z_lo (q = sigmoid(z_hi)), the
    # first-order correction for the rounding of beta*x.
    # z >= 0: sigmoid(z) = p = 1/(1+e); its relative sensitivity to z is
    # z*sigmoid(-z) <= 0.28, so the rounding of z is harmless.
    sigmoid_negative = (q + q * p * pieces.z_lo) * pieces.unshift
    sigmoid = kops.where(pieces.negative, sigmoid_negative, p)
    # g is even in z: g = -(a*sigmoid(-a) + log1p(exp(-a))). Both terms are
    # positive, so there is no cancellation (the naive
    # z*sigmoid(z) - softplus(z) loses every digit for large |z|).
    # dg/da = a*q*p corrects for |z| = a + a_lo.
    a_lo = kops.where(pieces.negative, -pieces.z_lo, pieces.z_lo)
    g = a * q * p * a_lo - (a * q + pieces.log1p_e)
    dbeta = (g / (beta * beta)) * pieces.unshift
    return sigmoid, dbeta


def _sum_to_shape(grad, shape):
    """Sums `grad` over the axes along which a `shape` input was broadcast."""
    shape = tuple(shape)
    grad_shape = tuple(kops.shape(grad))
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


def _upstream(args, upstream):
    """The incoming gradient, however the backend passes it.

    JAX and TensorFlow call the gradient function with the upstream
    gradient as its one positional argument; Keras' PyTorch backend calls it
    with the saved inputs as positional arguments and `upstream=`.
    """
    return args[0] if upstream is None else upstream


@kops.custom_gradient
def _sigmoid_and_dbeta_op(x, beta):
    """Differentiable `stack([sigmoid(beta*x), g(beta*x)/beta**2])`.

    Its gradient gives the second derivatives of softplus:
    d sigmoid/dx = beta*h, d sigmoid/dbeta = x*h, d dbeta/dx = x*h and
    d dbeta/dbeta = x**2*h/beta - 2*dbeta/beta, where
    h = sigmoid(z)*sigmoid(-z) is computed as a product of the two sigmoids,
    without cancellation.
    """
    sigmoid, dbeta = _sigmoid_and_dbeta(x, beta)

    def grad(*args, upstream=None):
        upstream = _upstream(args, upstream)
        upstream_sigmoid, upstream_dbeta = upstream[0], upstream[1]
        mirrored_sigmoid = _sigmoid_and_dbeta_op(-x, beta)[0]
        h = sigmoid * mirrored_sigmoid
        dbeta_of_sigmoid = x * h
        grad_x = upstream_sigmoid * beta * h + upstream_dbeta * dbeta_of_sigmoid
        grad_beta = upstream_sigmoid * dbeta_of_sigmoid + upstream_dbeta * (
            (x * dbeta_of_sigmoid - 2.0 * dbeta) / beta
        )
        return (
            _sum_to_shape(grad_x, kops.shape(x)),
            _sum_to_shape(grad_beta, kops.shape(beta)),
        )

    return kops.stack([sigmoid, dbeta]), grad


@kops.custom_gradient
def _softplus_op(x, beta):
    """Fused beta-softplus; the gradient recomputes the shared pieces from
    `x` and `beta` rather than holding intermediates."""

    def grad(*args, upstream=None):
        upstream = _upstream(args, upstream)
        partials = _sigmoid_and_dbeta_op(x, beta)
        return (
            _sum_to_shape(upstream * partials[0], kops.shape(x)),
            _sum_to_shape(upstream * partials[1], kops.shape(beta)),
        )

    return _softplus_value(x, beta), grad


def softplus(x, beta):
    """Fused beta-softplus of two working-dtype tensors.

    The value has the broadcast shape of `x` and `beta`; both gradients (and
    the second derivatives) are summed back to the inputs' own shapes.
    """
    return _softplus_op(x, beta)


def softminus(x, beta):
    """`x - softplus(x, beta)`, evaluated as `-softplus(-x, beta)`.

    The identity holds exactly, and the right side never subtracts two
    large numbers.
    """
    return -softplus(-x, beta)


def softplus_inverse(y, beta):
    """`log(expm1(beta*y)) / beta`, for `y > 0`.

    Differentiated by autodiff. Each branch gets a safe argument where it
    is not selected, so that its gradient there is finite (0 * inf would be
    NaN even though `where` discards the value).
    """
    consts = _constants(y)
    w = beta * y
    small = w < consts.eps
    large = w > consts.inverse_large
    moderate = kops.logical_not(kops.logical_or(small, large))
    one = kops.ones_like(w)
    # w < eps: log(expm1(w)) = log(w) + w/2 + O(w**2), with log(w) taken as
    # log(y) + log(beta) because beta*y may underflow to 0. The threshold eps
    # makes the dropped w**2/24 term invisible.
    y_small = kops.where(small, y, one)
    small_value = (kops.log(y_small) + kops.log(beta) + 0.5 * w) / beta
    # eps <= w <= -log(eps): log(expm1(w)) directly; expm1 is accurate for
    # small w and cannot overflow below -log(eps).
    moderate_value = kops.log(kops.expm1(kops.where(moderate, w, one))) / beta
    # w > -log(eps) (`inverse_large`): y + log1p(-exp(-w))/beta, where
    # exp(-w) < eps, so the correction is below one rounding of y, nothing
    # overflows, and log1p keeps it (and its gradient) relatively accurate.
    # tf_kernels writes log(-expm1(-w)), equal in value; here the gradient
    # matters: JAX and PyTorch differentiate expm1 as `expm1(u) + 1`, which
    # is 0 in the working dtype for u < log(eps), while exp(-w) is not.
    large_value = y + kops.log1p(-kops.exp(-kops.where(large, w, one))) / beta
    return kops.where(small, small_value, kops.where(large, large_value, moderate_value))
