"""TensorFlow kernels of the beta-softplus family.

The public wrappers in `keras_softplus.ops` validate and cast their
arguments, then call `softplus`, `softplus_inverse` and `softminus` here with
two tensors of one working dtype (float32 or float64). The kernels are plain
TensorFlow ops, so they run eagerly, in `tf.function`, under XLA and on GPU.

Notation: `z = beta * x`, `a = |z|`, `e = exp(-a)`, `sigmoid(-a) = e/(1+e)`,
and `g(z) = z*sigmoid(z) - softplus(z)`, the numerator of d/dbeta.
"""

import tensorflow as tf

from keras_softplus.ops._constants import constants_for


def _constants(dtype):
    return constants_for(dtype.name)


def _split(a, consts):
    """Dekker split `a = hi + lo`, each half short enough to multiply exactly.

    `hi` is `a` rounded to `p - split_bits` significand bits by integer
    arithmetic on the bit pattern (add half a unit, clear the low bits), so no
    floating-point contraction or reassociation can disturb it; `lo = a - hi`
    is exact.
    """
    int_dtype = tf.as_dtype(consts.int_dtype)
    half_unit = tf.constant(1 << (consts.split_bits - 1), int_dtype)
    keep_mask = tf.constant(~((1 << consts.split_bits) - 1), int_dtype)
    bits = tf.bitcast(a, int_dtype)
    hi = tf.bitcast(tf.bitwise.bitwise_and(bits + half_unit, keep_mask), a.dtype)
    return hi, a - hi


def _two_product(a, b, consts):
    """Error-free product: `hi = fl(a*b)` and `hi + lo == a*b` exactly.

    Dekker's TwoProduct. Every partial product of the split halves is exact,
    so the sum below recovers the rounding error of `a*b`. The rounding of
    `beta*x` alone would cost `|z|/2` ulp in the far tail, where softplus and
    sigmoid behave like `exp(z)`. Where the split overflows (|a*b| near the
    dtype's max) `lo` is set to 0; it is irrelevant there.
    """
    hi = a * b
    a_hi, a_lo = _split(a, consts)
    b_hi, b_lo = _split(b, consts)
    lo = a_lo * b_lo - (((hi - a_hi * b_hi) - a_lo * b_hi) - a_hi * b_lo)
    lo = tf.where(tf.math.is_finite(lo), lo, tf.zeros_like(lo))
    return hi, lo


def _log1p_unit(e, consts):
    """`log1p(e)` for `0 <= e <= 1` as an unevaluated sum `lead + tail`.

    Formula: `log1p(e) = 2*atanh(t) = 2t + 2t * sum_k t**(2k)/(2k+1)`,
    `t = e/(2+e)` in [0, 1/3]. `lead = 2t` is added last, by the caller, so
    the polynomial's rounding is damped by `t**2/3 <= 1/27`. The rounding
    error `dl` of `2+e` (exact by Fast2Sum, as 2 >= e) is fed back as
    `-2t*dl/(2+e)`. TensorFlow's float32 log1p is up to 3.6 ulp off on CPU,
    which would not leave room for the 4 ulp target.
    """
    two = tf.constant(2.0, e.dtype)
    denominator = two + e
    denominator_error = e - (denominator - two)
    t = e / denominator
    t_squared = t * t
    series = tf.zeros_like(t)
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
        consts = _constants(x.dtype)
        self.z_hi, self.z_lo = _two_product(beta, x, consts)
        self.negative = self.z_hi < 0
        self.a = tf.minimum(tf.abs(self.z_hi), consts.max)
        deep = self.a > consts.deep_tail
        zero = tf.zeros_like(self.a)
        shift = tf.where(deep, zero + consts.tail_shift, zero)
        self.unshift = tf.where(deep, zero + consts.unshift, zero + 1.0)
        # `shift - a` is exact: shift is an integer no larger than a.
        e = tf.exp(shift - self.a)
        one_plus_e = 1.0 + e
        self.q = e / one_plus_e
        self.p = 1.0 / one_plus_e
        self.log1p_lead, self.log1p_tail = _log1p_unit(e, consts)
        self.log1p_e = self.log1p_lead + self.log1p_tail


# The two kernels below are compiled with XLA even when the caller is not,
# so that their ~70 elementwise ops run as a few fused loops instead of one
# TensorFlow kernel (and one pass over memory) each. XLA compiles once per
# input shape; `reduce_retracing` keeps the Python tracing to one per rank.
_compiled_kernel = tf.function(jit_compile=True, reduce_retracing=True, autograph=False)


@_compiled_kernel
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
    # lead, saving a rounding.
    # Dividing by beta before unshifting keeps the intermediate normal.
    softplus_negative = pieces.log1p_lead + (
        pieces.log1p_tail + pieces.q * pieces.z_lo
    )
    negative = (softplus_negative / beta) * pieces.unshift
    return tf.where(pieces.negative, negative, positive)


@_compiled_kernel
def _sigmoid_and_dbeta(x, beta):
    """`(sigmoid(beta*x), g(beta*x) / beta**2)`, the partials of the value."""
    pieces = _Pieces(x, beta)
    q, p, a = pieces.q, pieces.p, pieces.a
    # z < 0: sigmoid(z_hi + z_lo) = q + q*p*z_lo (q = sigmoid(z_hi)).
    # z >= 0: sigmoid(z) = p = 1/(1+e); its relative sensitivity to z is
    # z*sigmoid(-z) <= 0.28, so the rounding of z is harmless.
    sigmoid_negative = (q + q * p * pieces.z_lo) * pieces.unshift
    sigmoid = tf.where(pieces.negative, sigmoid_negative, p)
    # g is even in z: g = -(a*sigmoid(-a) + log1p(exp(-a))). Both terms are
    # positive, so there is no cancellation (the naive
    # z*sigmoid(z) - softplus(z) loses every digit for large |z|).
    # dg/da = a*q*p corrects for |z| = a + a_lo.
    a_lo = tf.where(pieces.negative, -pieces.z_lo, pieces.z_lo)
    g = a * q * p * a_lo - (a * q + pieces.log1p_e)
    dbeta = (g / (beta * beta)) * pieces.unshift
    return sigmoid, dbeta


def _reduce_to_shapes(grad_x, grad_beta, x, beta):
    """Sums each gradient back over the axes its input was broadcast along."""
    if x.shape.is_fully_defined() and x.shape == beta.shape:
        return grad_x, grad_beta
    x_shape, beta_shape = tf.shape(x), tf.shape(beta)
    x_axes, beta_axes = tf.raw_ops.BroadcastGradientArgs(s0=x_shape, s1=beta_shape)
    grad_x = tf.reshape(tf.reduce_sum(grad_x, x_axes), x_shape)
    grad_beta = tf.reshape(tf.reduce_sum(grad_beta, beta_axes), beta_shape)
    return grad_x, grad_beta


@tf.custom_gradient
def _sigmoid_and_dbeta_op(x, beta):
    """Differentiable `(sigmoid(beta*x), g(beta*x)/beta**2)`.

    Its gradient gives the second derivatives of softplus:
    d sigmoid/dx = beta*h, d sigmoid/dbeta = x*h, d dbeta/dx = x*h and
    d dbeta/dbeta = x**2*h/beta - 2*dbeta/beta, where
    h = sigmoid(z)*sigmoid(-z) is computed without cancellation.
    """
    # stop_gradient: in eager mode an outer tape would otherwise record the
    # kernel's ops and keep their intermediates alive until it is released.
    sigmoid, dbeta = _sigmoid_and_dbeta(tf.stop_gradient(x), tf.stop_gradient(beta))

    def grad(upstream_sigmoid, upstream_dbeta):
        mirrored_sigmoid, _ = _sigmoid_and_dbeta_op(-x, beta)
        h = sigmoid * mirrored_sigmoid
        dbeta_of_sigmoid = x * h
        grad_x = upstream_sigmoid * beta * h + upstream_dbeta * dbeta_of_sigmoid
        grad_beta = upstream_sigmoid * dbeta_of_sigmoid + upstream_dbeta * (
            (x * dbeta_of_sigmoid - 2.0 * dbeta) / beta
        )
        return _reduce_to_shapes(grad_x, grad_beta, x, beta)

    return (sigmoid, dbeta), grad


@_compiled_kernel
def _first_order_gradients(x, beta, upstream):
    """`(upstream * sigmoid, upstream * dbeta)`, each reduced to its input's
    shape, in one compiled function (the reduction to beta's shape fuses with
    the products). Differentiable, through `_sigmoid_and_dbeta_op`."""
    sigmoid, dbeta = _sigmoid_and_dbeta_op(x, beta)
    return _reduce_to_shapes(upstream * sigmoid, upstream * dbeta, x, beta)


@tf.custom_gradient
def softplus(x, beta):
    """Fused beta-softplus of two working-dtype tensors.

    The gradient keeps only `x` and `beta`; it recomputes the shared pieces
    rather than holding intermediates.
    """

    def grad(upstream):
        return _first_order_gradients(x, beta, upstream)

    value = _softplus_value(tf.stop_gradient(x), tf.stop_gradient(beta))
    return value, grad


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
    NaN even though `tf.where` discards the value).
    """
    consts = _constants(y.dtype)
    w = beta * y
    small = w < consts.eps
    large = w > consts.inverse_large
    moderate = ~(small | large)
    one = tf.ones_like(w)
    # w < eps: log(expm1(w)) = log(w) + w/2 + O(w**2), with log(w) taken as
    # log(y) + log(beta) because beta*y may underflow to 0.
    y_small = tf.where(small, y, one)
    small_value = (tf.math.log(y_small) + tf.math.log(beta) + 0.5 * w) / beta
    # eps <= w <= -log(eps): log(expm1(w)) directly; expm1 is accurate for
    # small w and cannot overflow below -log(eps).
    moderate_value = tf.math.log(tf.math.expm1(tf.where(moderate, w, one))) / beta
    # w > -log(eps): y + log(-expm1(-w))/beta, where -expm1(-w) is in
    # (1 - eps, 1], so the correction is below one rounding of y.
    large_value = y + tf.math.log(-tf.math.expm1(-tf.where(large, w, one))) / beta
    return tf.where(small, small_value, tf.where(large, large_value, moderate_value))
