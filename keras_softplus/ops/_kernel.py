"""The beta-softplus kernel's formulas: one algorithm for every Keras backend.

Math only, written once with `keras.ops`: `value`, `sigmoid` (d/dx) and
`dbeta` (d/dbeta) of two tensors of one working dtype (float32 or float64),
their compact forms for op-by-op execution, and `softplus_inverse`. How and
where they run (eagerly, in a graph, under XLA; the custom gradient; whether
a wide dtype exists) is decided by `_execution`, which calls them; this
module never calls it.

Two ways to make `z = beta*x` exact as `z_hi + z_lo`, chosen per dtype by
the `wide` argument (`_execution.wide_dtype`); the rest of the algorithm is
the same for both:
- wide: for float32, `beta*x` in float64 is exact (24 + 24 significand bits
  fit in 53), and `z_hi`, `z_lo` are its float32 rounding and the (exactly
  representable) rest; exp, log and divide then run in float32, where they
  cost half as much, with first-order corrections in `z_lo`.
- error-free: float64 (and float32 on JAX without `jax_enable_x64`) splits
  the factors (Veltkamp) and sums their exact partial products.

Notation: `z = beta * x`, `a = |z|`, `e = exp(-a)`, `sigmoid(-a) = e/(1+e)`,
and `g(z) = z*sigmoid(z) - softplus(z)`, the numerator of d/dbeta.
"""

import keras
from keras import ops as kops

from keras_softplus.ops._constants import constants_for


def _split(a, consts):
    """Veltkamp split `a = hi + lo`, each half short enough to multiply exactly.

    Formula (Veltkamp, in Dekker 1971), `s = split_bits = ceil(p/2)`:
    `c = fl((2**s + 1) * a)`, `hi = c - (c - a)`, `lo = a - hi`; `hi` has at
    most `p - s` significant bits, `lo` at most `s - 1` plus a sign, and all
    three subtractions are exact.

    `c` is formed as `a * 2**s + a`: the product by a power of two is exact,
    so `c` is rounded once whether or not a compiler contracts the two into
    an FMA.

    `a * 2**s` overflows for `|a| > max / 2**(s+1)`; there `a` is scaled by
    `2**-(s+1)` first and the halves scaled back, both exact (a power of
    two, far from underflow). At `|a| == inf` the halves are NaN, and the
    caller discards the correction.
    """
    power = float(2**consts.split_bits)
    rescale = 2.0 * power
    zero = kops.zeros_like(a)
    large = kops.abs(a) > consts.max / rescale
    # Multiplications by powers of two (exact), not divisions (slow).
    a_scaled = a * kops.where(large, zero + 1.0 / rescale, zero + 1.0)
    c = a_scaled * power + a_scaled
    hi = c - (c - a_scaled)
    unscale = kops.where(large, zero + rescale, zero + 1.0)
    return hi * unscale, (a_scaled - hi) * unscale


def _two_sum(u, v):
    """`(s, err)` with `s = fl(u + v)` and `s + err == u + v` exactly (Knuth)."""
    s = u + v
    v_part = s - u
    u_part = s - v_part
    return s, (u - u_part) + (v - v_part)


def two_product(a, b, consts):
    """Near error-free product: `hi + lo == a*b` to within `eps**2 * |a*b|`.

    The four partial products of the split halves are exact (at most `p`
    significant bits each), and `a*b` is their sum; `hi` and `lo` are formed
    from them by additions only (two error-free sums, then `lo` rounded
    once, an error of order `eps * |lo|`).

    Exact under FMA contraction by construction: no product whose rounding
    matters is ever formed. XLA's and Inductor's GPU code generators may
    contract `u*v + w` into `fma(u, v, w)`, which skips the rounding of
    `u*v`; Dekker's classic form (`fl(a*b) - a_hi*b_hi - ...`) breaks if
    `fl(a*b)` is contracted into that subtraction. Here every product is
    exact, so an FMA computes the same rounded sum as the separate add.

    The rounding of `beta*x` alone would cost `|z|/2` ulp in the far tail,
    where softplus and sigmoid behave like `exp(z)`. Where the partial
    products overflow (|a*b| near the dtype's max) or a factor is infinite,
    `hi` is the rounded product and `lo` is 0; the correction is irrelevant
    there. Where a half is subnormal (|a| or |b| below `tiny / eps`, e.g.
    x=-1e-300, beta=1e300 in float64), CPUs that flush subnormals lose it:
    the supported range of the float64 kernel.
    """
    a_hi, a_lo = _split(a, consts)
    b_hi, b_lo = _split(b, consts)
    t, t_err = _two_sum(a_hi * b_lo, a_lo * b_hi)
    hi, hi_err = _two_sum(a_hi * b_hi, t)
    lo = hi_err + (t_err + a_lo * b_lo)
    finite = kops.logical_and(kops.isfinite(hi), kops.isfinite(lo))
    return kops.where(finite, hi, a * b), kops.where(finite, lo, kops.zeros_like(lo))


def _wide_product(a, b, wide):
    """`(hi, lo)` with `hi + lo == a*b` exactly, from a wider dtype.

    `a*b` is exact in `wide` (float64 for float32: 24 + 24 significand bits
    fit in 53); `hi` is its rounding to the working dtype and `lo` the rest
    (at most 24 bits, so exact too). One product and one subtraction
    replace the error-free product, and the rest of the kernel runs in the
    working dtype, where exp and divide cost half as much. Where `hi`
    overflows to inf the rest is not finite; `lo` is 0 there.
    """
    dtype = a.dtype
    product = kops.cast(a, wide) * kops.cast(b, wide)
    hi = kops.cast(product, dtype)
    lo = kops.cast(product - kops.cast(hi, wide), dtype)
    return hi, kops.where(kops.isfinite(lo), lo, kops.zeros_like(lo))


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

    Attributes (`z = z_hi + z_lo`, `a = |z_hi|`):
        x, beta: the inputs, in the working dtype.
        z_hi, z_lo: `beta * x = z_hi + z_lo`, exactly.
        a: `|z_hi|`, clipped to the dtype's max so that `a * 0 == 0`.
        negative: `z_hi < 0`.
        unshift: `exp(-tail_shift)` in the deep tail and 1 elsewhere: there
            `e`, `q` and `log1p_e` carry a factor `exp(tail_shift)` that
            keeps them normal.
        q: `sigmoid(-a) = e/(1+e)` (shifted in the deep tail).
        p: `sigmoid(a) = 1/(1+e)`.
        log1p_lead, log1p_tail: `log1p(e) = log1p_lead + log1p_tail`, the
            tail much smaller.
        log1p_e: `log1p(e)`.
    """

    def __init__(self, x, beta, wide, distinct=False):
        self.dtype = keras.backend.standardize_dtype(x.dtype)
        self.wide = wide
        consts = constants_for(self.dtype)
        if wide:
            self.z_hi, self.z_lo = _wide_product(beta, x, wide)
        else:
            self.z_hi, self.z_lo = two_product(beta, x, consts)
        self.x, self.beta = x, beta
        self.negative = self.z_hi < 0
        zero = kops.zeros_like(self.z_hi)
        # |z| as a select, not `abs`: its derivative at 0 is 1, not
        # sign(0) = 0, which the second derivatives (autodiff of the
        # first) need.
        magnitude = kops.where(self.negative, -self.z_hi, self.z_hi)
        self.a = kops.where(magnitude > consts.max, zero + consts.max, magnitude)
        # Deep tail, a > deep_tail = -log(16 * tiny / eps): the first-order
        # corrections (relative size eps) of exp(-a) would fall below the
        # smallest normal and be flushed to zero (XLA:CPU flushes
        # subnormals), so the kernel works on exp(tail_shift - a) and
        # multiplies by unshift = exp(-tail_shift) at the end. `shift - a`
        # is exact: shift is an integer no larger than a. `distinct` forms
        # the exponent with another instruction order: the same e, but not
        # the same XLA instruction (see `dbeta`).
        deep = self.a > consts.deep_tail
        shift = kops.where(deep, zero + consts.tail_shift, zero)
        self.unshift = kops.where(deep, zero + consts.unshift, zero + 1.0)
        e = kops.exp(-(self.a - shift) if distinct else shift - self.a)
        self.log1p_lead, self.log1p_tail = _log1p_unit(e, consts)
        self.log1p_e = self.log1p_lead + self.log1p_tail
        one_plus_e = 1.0 + e
        self.q = e / one_plus_e
        self.p = 1.0 / one_plus_e

    def finish(self, value):
        """Undoes the deep-tail shift."""
        return value * self.unshift


def value(x, beta, wide):
    """`log1p(exp(beta*x)) / beta`; `wide`: the exact-product dtype or None."""
    pieces = _Pieces(x, beta, wide)
    # z >= 0: softplus(z) = z + log1p(exp(-z)), so the value is x (exact)
    # plus a small positive term. The rounding of z barely matters here
    # (relative sensitivity z*sigmoid(-z) of a term that is < x). The
    # deep-tail factor is undone on the term, not on x.
    positive = pieces.x + pieces.finish(pieces.log1p_e / pieces.beta)
    # z < 0: softplus(z_hi + z_lo) = log1p(e) + sigmoid(z_hi) * z_lo, the
    # first-order correction for the rounding of beta*x (second order is
    # below eps**2 * |z|**2), added to the small tail of log1p before the
    # lead, saving a rounding. Dividing by beta before unshifting keeps the
    # intermediate normal.
    softplus_negative = pieces.log1p_lead + (pieces.log1p_tail + pieces.q * pieces.z_lo)
    negative = pieces.finish(softplus_negative / pieces.beta)
    return kops.where(pieces.negative, negative, positive)


def sigmoid(x, beta, wide):
    """`sigmoid(beta*x)`, the partial derivative of the value in `x`."""
    if wide:
        # sigmoid(z_hi) = [e if z < 0 else 1] / (1+e), e = exp(-|z_hi|),
        # times 1 + sigmoid(-z_hi) * z_lo, the first-order correction for
        # the rounding of z. Where e is subnormal, so is sigmoid: no loss
        # above float32's tiny. Its exp(-|z_hi|) is not the value's nor
        # d/dbeta's, so in one XLA program the three are recomputed, not
        # stored and read back, and its autodiff has no cancellation
        # (second derivatives).
        z_hi, z_lo = _wide_product(beta, x, wide)
        negative = z_hi < 0
        # -|z_hi| as the negated select (see `_Pieces`).
        e = kops.exp(-kops.where(negative, -z_hi, z_hi))
        one = kops.ones_like(e)
        one_plus_e = 1.0 + e
        # One divide with one user, so that XLA fuses all of it:
        # s * (1 + (1 - s) * z_lo) = n * (1 + e + m * z_lo) / (1 + e)**2,
        # n = [e if z < 0 else 1], m = [1 if z < 0 else e].
        numerator = kops.where(negative, e, one) * (
            one_plus_e + kops.where(negative, one, e) * z_lo
        )
        return numerator / (one_plus_e * one_plus_e)
    pieces = _Pieces(x, beta, wide)
    # z < 0: sigmoid(z_hi + z_lo) = q + q*p*z_lo (q = sigmoid(z_hi)), the
    # first-order correction for the rounding of beta*x.
    # z >= 0: sigmoid(z) = p = 1/(1+e); its relative sensitivity to z is
    # z*sigmoid(-z) <= 0.28, so the rounding of z is harmless.
    negative = pieces.q + pieces.q * pieces.p * pieces.z_lo
    return kops.where(pieces.negative, pieces.finish(negative), pieces.p)


def dbeta(x, beta, wide):
    """`g(beta*x) / beta**2`, the partial derivative of the value in `beta`."""
    # `distinct`: in one XLA program of forward and backward, the value's
    # pieces and these would otherwise be merged into one exp and one
    # divide whose results are written to memory and read back (XLA:CPU
    # never duplicates an exp or a divide into two fusions); recomputing
    # them in each fusion costs less than that memory traffic.
    pieces = _Pieces(x, beta, wide, distinct=True)
    q, p, a = pieces.q, pieces.p, pieces.a
    # g is even in z: g = -(a*sigmoid(-a) + log1p(exp(-a))). Both terms are
    # positive, so there is no cancellation (the naive
    # z*sigmoid(z) - softplus(z) loses every digit for large |z|).
    # dg/da = a*q*p corrects for |z| = a + a_lo.
    a_lo = kops.where(pieces.negative, -pieces.z_lo, pieces.z_lo)
    g = a * q * p * a_lo - (a * q + pieces.log1p_e)
    # beta**2 underflows to 0 for beta < sqrt(tiny) (0/0 = NaN at
    # beta=1e-30, x=1e38 in float32), and XLA's simplifier rewrites
    # g/beta/beta as g/(beta*beta); so float32 divides by beta**2 in the wide
    # dtype, where the square of a float32 is a normal number. Without a
    # wide dtype, dividing twice keeps that range outside XLA.
    if wide:
        beta = kops.cast(pieces.beta, wide)
        dbeta = kops.cast(kops.cast(g, wide) / (beta * beta), pieces.dtype)
    else:
        dbeta = g / pieces.beta / pieces.beta
    return pieces.finish(dbeta)


def _compact(x, beta, wide):
    """`(beta, beta*x)` in the wide dtype, for the compact forms below."""
    x, beta = kops.cast(x, wide), kops.cast(beta, wide)
    return beta, beta * x


# The same quantities as `value`, `sigmoid` and `dbeta`, for float32 run
# op by op (eagerly): in float64, where `beta*x` is exact, with the backend's
# own softplus and sigmoid (accurate to a few float64 ulp, invisible after
# the final rounding to float32), so that each costs a handful of dispatches
# instead of the ~30 elementwise ops that a compiler would fuse. d/dbeta
# keeps the cancellation-free g = -(a*sigmoid(-a) + softplus(-a)).
def value_compact(x, beta, wide):
    beta_wide, z = _compact(x, beta, wide)
    return kops.cast(kops.softplus(z) / beta_wide, x.dtype)


def sigmoid_compact(x, beta, wide):
    # exp(-softplus(-z)): its derivative, sigmoid(z) * sigmoid(-z), is a
    # product (the backend's sigmoid gradient s*(1-s) cancels for z > 37).
    _, z = _compact(x, beta, wide)
    return kops.cast(kops.exp(-kops.softplus(-z)), x.dtype)


def dbeta_compact(x, beta, wide):
    beta_wide, z = _compact(x, beta, wide)
    # |z| clipped to the wide dtype's max (only an infinite x reaches it),
    # so that a * sigmoid(-a) is 0, not inf * 0, there.
    max_value = constants_for(wide).max
    magnitude = kops.abs(z)
    a = kops.where(magnitude > max_value, kops.zeros_like(z) + max_value, magnitude)
    g = -(a * kops.sigmoid(-a) + kops.softplus(-a))
    return kops.cast(g / beta_wide / beta_wide, x.dtype)


def softplus_inverse(y, beta):
    """`log(expm1(beta*y)) / beta`, for `y > 0`, in the dtype of `y`.

    Differentiated by autodiff. Each branch gets a safe argument where it is
    not selected, so that its value and gradient there are finite (0 * inf
    is NaN even though `where` discards the value). The caller passes
    float32 in float64 where the backend has it, so `beta*y` cannot
    overflow.
    """
    consts = constants_for(keras.backend.standardize_dtype(y.dtype))
    w = beta * y
    small = w < consts.eps
    large = w > consts.inverse_large
    moderate = kops.logical_not(kops.logical_or(small, large))
    one = kops.ones_like(w)
    # w < eps: log(expm1(w)) = log(w) + w/2 + O(w**2), with log(w) taken as
    # log(y) + log(beta) because beta*y may underflow to 0. The threshold eps
    # makes the dropped w**2/24 term invisible.
    w_small = kops.where(small, w, one)
    y_small = kops.where(small, y, one)
    small_value = (kops.log(y_small) + kops.log(beta) + 0.5 * w_small) / beta
    # eps <= w <= -log(eps): log(expm1(w)) directly; expm1 is accurate for
    # small w and cannot overflow below -log(eps).
    moderate_value = kops.log(kops.expm1(kops.where(moderate, w, one))) / beta
    # w > -log(eps) (`inverse_large`): y + log1p(-exp(-w))/beta, where
    # exp(-w) < eps, so the correction is below one rounding of y, nothing
    # overflows, and log1p keeps it (and its gradient) relatively accurate
    # (JAX and PyTorch differentiate expm1(u) as expm1(u) + 1, which is 0
    # in the working dtype for u < log(eps), while exp(-w) is not).
    large_value = y + kops.log1p(-kops.exp(-kops.where(large, w, one))) / beta
    return kops.where(
        small, small_value, kops.where(large, large_value, moderate_value)
    )


def softminus_inverse(y, beta):
    """`y - log(-expm1(beta*y)) / beta`, for `y < 0`: the inverse of
    `softminus(x) = -softplus(-x)`, computed as `-softplus_inverse(-y)`
    (negation is exact, so it inherits every bound of `softplus_inverse`)."""
    return -softplus_inverse(-y, beta)
