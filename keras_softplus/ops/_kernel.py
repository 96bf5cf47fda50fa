"""The beta-softplus kernel's formulas: one algorithm for every Keras backend.

Math only, written once with `keras.ops`: `value`, `sigmoid` (d/dx) and
`dbeta` (d/dbeta) of two tensors of one working dtype (float32 or float64),
their compact forms for op-by-op execution, and
`softplus_inverse` with its partials (`softplus_inverse_partials`). How
and where they run is decided by `_execution`, which calls them.

Two ways to make `z = beta*x` exact as `z_hi + z_lo`, chosen per dtype by
the `wide` argument (`_execution.wide_dtype`); the rest of the algorithm is
the same for both:
- wide: for float32, `beta*x` in float64 is exact (24 + 24 significand bits
  fit in 53), and `z_hi`, `z_lo` are its float32 rounding and the (exactly
  representable) rest; exp, log and divide then run in float32, where they
  cost half as much, with first-order corrections in `z_lo`.
- error-free: float64 (and float32 where `_execution.wide_dtype` finds no
  float64, JAX on TPU and before JAX 0.8 without `jax_enable_x64`, or a
  slow conversion to it, PyTorch's Inductor kernels on Intel CPUs) splits
  the factors (Veltkamp) and sums their exact partial products.

Notation: `z = beta * x`, `a = |z|`, `e = exp(-a)`, `sigmoid(-a) = e/(1+e)`,
and `g(z) = z*sigmoid(z) - softplus(z)`, the numerator of d/dbeta.
"""

import keras
from keras import ops as kops

from keras_softplus.ops._constants import LOG_THREE
from keras_softplus.ops._constants import LOG_THREE_HALVES
from keras_softplus.ops._constants import LOG_TWO
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
    """`(hi, lo)` with `hi + lo == a*b` exactly, from a wider dtype: `a*b`
    is exact in `wide` (float64 for float32: 24 + 24 significand bits
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
    """`log1p(e)` for `-1/2 <= e <= 1` as an unevaluated sum `lead + tail`.

    Formula: `log1p(e) = 2*atanh(t) = 2t + 2t * sum_k t**(2k)/(2k+1)`,
    `t = e/(2+e)` in [-1/3, 1/3]; the number of terms (`log1p_terms`) is the
    smallest whose truncation error is below eps/4. `lead = 2t` is added
    last, by the caller, so the polynomial's rounding is damped by
    `t**2/3 <= 1/27`. The rounding error `dl` of `2+e` (exact by Fast2Sum,
    as 2 >= |e|) is fed back as `-2t*dl/(2+e)`. Backends' own `log1p` differ
    by a few ulp; the series gives every backend the same accuracy.
    """
    denominator = 2.0 + e
    denominator_error = e - (denominator - 2.0)
    t = e / denominator
    t_squared = t * t
    series = kops.zeros_like(t)
    for coefficient in reversed(consts.log1p_terms):
        series = (series + coefficient) * t_squared
    # Each divide has one user, so that XLA:CPU fuses it (it writes a
    # divide with two users to memory): `lead = 2t` divided anew, and the
    # tail `2t * (series - dl/(2+e))` over one common denominator.
    lead = (2.0 * e) / denominator
    tail = (2.0 * e) * (series * denominator - denominator_error)
    return lead, tail / (denominator * denominator)


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
            # `distinct` swaps the factors: the same exact sum, but not the
            # same XLA instructions (see below).
            factors = (x, beta) if distinct else (beta, x)
            self.z_hi, self.z_lo = two_product(*factors, consts)
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
    # z < 0: softplus(z_hi + z_lo) = log1p(e) + sigmoid(z_hi) * z_lo, the
    # first-order correction for the rounding of beta*x (second order is
    # below eps**2 * |z|**2), added to the small tail of log1p before the
    # lead, saving a rounding. Dividing by beta before unshifting keeps the
    # intermediate normal. One term for both signs, so that `log1p_lead`, a
    # divide, has one user (see `_log1p_unit`); a select last, so that a
    # caller's sum (YNNPACK on XLA:CPU) reads the value instead of fusing
    # the kernel's arithmetic and writing its operands to memory.
    zero = kops.zeros_like(pieces.x)
    correction = kops.where(pieces.negative, pieces.q * pieces.z_lo, zero)
    softplus_term = pieces.log1p_lead + (pieces.log1p_tail + correction)
    term = pieces.finish(softplus_term / pieces.beta)
    return kops.where(pieces.negative, term, pieces.x + term)


def sigmoid(x, beta, wide):
    """`sigmoid(beta*x)`, the partial derivative of the value in `x`."""
    # sigmoid(z_hi) = [e if z < 0 else 1] / (1+e), e = exp(-|z_hi|),
    # times 1 + sigmoid(-z_hi) * z_lo, the first-order correction for
    # the rounding of z. Where e is subnormal, so is sigmoid. An exp of
    # its own: in one XLA program the value's, d/dbeta's and this are
    # recomputed, not stored, and its autodiff does not cancel.
    if wide:
        z_hi, z_lo = _wide_product(beta, x, wide)
    else:
        dtype = keras.backend.standardize_dtype(x.dtype)
        z_hi, z_lo = two_product(beta, x, constants_for(dtype))
    negative = z_hi < 0
    # -|z_hi| as the negated select (see `_Pieces`).
    e = kops.exp(-kops.where(negative, -z_hi, z_hi))
    one_plus_e = 1.0 + e
    # s * (1 + (1 - s) * z_lo) = n * (1 + e + m * z_lo) / (1 + e)**2,
    # n = [e if z < 0 else 1], m = [1 if z < 0 else e]: one divide per
    # branch, each with one user, so that XLA fuses all of it, and a select
    # last, as in `value`.
    square = one_plus_e * one_plus_e
    return kops.where(
        negative, e * (one_plus_e + z_lo) / square, (one_plus_e + e * z_lo) / square
    )


def dbeta(x, beta, wide):
    """`g(beta*x) / beta**2`, the partial derivative of the value in `beta`."""
    # `distinct`: in one XLA program of forward and backward, the value's
    # pieces and these would otherwise be merged into one exp and one
    # divide whose results are written to memory and read back (XLA:CPU
    # never duplicates an exp or a divide into two fusions); recomputing
    # them in each fusion costs less than that memory traffic.
    pieces = _Pieces(x, beta, wide, distinct=True)
    q, p = pieces.q, pieces.p
    # `a` again, its comparison written the other way round (the same
    # number): as XLA instructions of their own, XLA:CPU fuses them and
    # `pieces.a` (which feeds the exp) into this fusion instead of writing
    # `a` to memory. (Not `minimum`: Keras' PyTorch one returns float32.)
    magnitude = kops.where(pieces.negative, -pieces.z_hi, pieces.z_hi)
    largest = kops.zeros_like(magnitude) + constants_for(pieces.dtype).max
    a = kops.where(largest < magnitude, largest, magnitude)
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
    if pieces.wide:
        beta = kops.cast(pieces.beta, pieces.wide)
        dbeta = kops.cast(kops.cast(g, pieces.wide) / (beta * beta), pieces.dtype)
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


def _expm1_unit(x, consts):
    """`expm1(x)` for `|x| <= 1`, as `x + x**2 * S(x)`.

    `S(x) = 1/2! + x/3! + ...` by Horner's rule, `len(expm1_terms)` terms
    (truncation below eps/8). The sum's rounding errors are damped by
    `|x**2 * S(x)| / |expm1(x)| <= 0.6`, so the result is within about
    1 ulp. Backends' own `expm1` are not: XLA's is off by up to 4.1 ulp in
    float32 and 2.8 in float64 on [-0.7, 0].
    """
    series = kops.zeros_like(x)
    for coefficient in reversed(consts.expm1_terms):
        series = series * x + coefficient
    return x + x * x * series


def _small_log_product(y, beta, small):
    """`log(beta*y)` as `log(y) + log(beta)` where `small` (there `beta*y`
    may underflow to 0), from safe arguments elsewhere."""
    one = kops.ones_like(small, dtype=y.dtype)
    return kops.log(kops.where(small, y, one)) + kops.log(kops.where(small, beta, one))


def _inverse_product(y, beta, consts):
    """`(w_hi, w_lo)`, `w_hi + w_lo = beta*y` (error-free), `w_hi` clipped to
    the dtype's max (so that `w * 0 == 0`), and whether `w < eps`.

    A factor below `tiny / eps` has subnormal split halves, which CPUs may
    flush to zero; there `w_hi` is the rounded product and `w_lo` is 0 (a
    half-ulp error of w, which only d/dbeta at large w would notice).
    """
    w_hi, w_lo = two_product(beta, y, consts)
    splits = kops.minimum(y, beta) >= consts.tiny / consts.eps
    w_hi = kops.where(splits, w_hi, beta * y)
    w_lo = kops.where(splits, w_lo, kops.zeros_like(w_lo))
    w_hi = kops.where(w_hi > consts.max, kops.zeros_like(w_hi) + consts.max, w_hi)
    return w_hi, w_lo, w_hi < consts.eps


def softplus_inverse(y, beta):
    """`log(expm1(beta*y)) / beta`, for `y > 0`, in the dtype of `y`.

    `w = beta*y = w_hi + w_lo` (error-free), four ranges:
    - `w < eps`: `log(expm1(w)) = log(w) + w/2 + O(w**2)`, with log(w)
      taken as log(y) + log(beta) because beta*y may underflow to 0; the
      dropped w**2/24 is invisible.
    - `w < log(3/2)`: `log(expm1(w))`, `expm1(w) <= 1/2`, where log is well
      conditioned; first-order correction `(1 + 1/expm1(w)) * w_lo`.
    - `log(3/2) <= w <= log(3)`, around the root `w = log(2)`:
      `log1p(2*expm1(w - log(2)))`; `w - log(2)` is formed exactly (log(2)
      in two parts), so the result keeps its relative accuracy where
      `log(expm1(w))` goes through 0.
    - `w > log(3)`: `y + log1p(-exp(-w))/beta`, `exp(-w) < 1/3`: a small
      negative term added to the exact y; nothing overflows.
    Each branch gets a safe argument where it is not selected, so that its
    value and gradient there are finite (0 * inf is NaN even though `where`
    discards the value). log1p and expm1 are the kernel's series
    (`_log1p_unit`, `_expm1_unit`), within 1 ulp on every backend.
    """
    consts = constants_for(keras.backend.standardize_dtype(y.dtype))
    w, w_lo, small = _inverse_product(y, beta, consts)
    zero = kops.zeros_like(w)
    lower = kops.logical_and(kops.logical_not(small), w < LOG_THREE_HALVES)
    upper = w > LOG_THREE
    root = kops.logical_not(kops.logical_or(kops.logical_or(small, lower), upper))
    small_value = (
        _small_log_product(y, beta, small) + 0.5 * kops.where(small, w, zero)
    ) / beta
    expm1_w = _expm1_unit(kops.where(lower, w, zero + LOG_TWO), consts)
    lower_value = (kops.log(expm1_w) + (1.0 + 1.0 / expm1_w) * w_lo) / beta
    # w - log(2): the first difference is exact (Sterbenz: w is within a
    # factor 2 of log(2) here).
    w_root = kops.where(root, w, zero + LOG_TWO)
    offset = (w_root - consts.log_two_hi) + (w_lo - consts.log_two_lo)
    lead, tail = _log1p_unit(2.0 * _expm1_unit(offset, consts), consts)
    root_value = (lead + tail) / beta
    u = kops.exp(-kops.where(upper, w, zero + LOG_THREE))
    lead, tail = _log1p_unit(-u, consts)
    upper_value = y + (lead + tail) / beta
    return kops.where(
        small,
        small_value,
        kops.where(lower, lower_value, kops.where(root, root_value, upper_value)),
    )


def softplus_inverse_partials(y, beta):
    """`(d/dy, d/dbeta)` of `softplus_inverse`, for `y > 0`.

    Formula, `w = beta*y`, `u = exp(-w)`, `m = 1 - u = -expm1(-w)`:
    `d/dy = 1/m` and `d/dbeta = h(w) / beta**2` with
    `h(w) = w/expm1(w) - log(m) = w*u/m - log(m)`. Both terms of `h` are
    positive for every `w > 0`, so nothing cancels (autodiff of the value,
    `(y/m - value)/beta`, loses every digit once `h` is exponentially
    small). `h'(w) = -w*exp(w)/expm1(w)**2` corrects `h` for the rounding
    of `w = w_hi + w_lo`, to which `h` is `w` times more sensitive than its
    argument for large `w`. Beyond `deep_tail`, `u` is carried as
    `exp(tail_shift - w)` and scaled back after the division by `beta**2`,
    as in `_Pieces`.
    """
    consts = constants_for(keras.backend.standardize_dtype(y.dtype))
    w, w_lo, small = _inverse_product(y, beta, consts)
    zero = kops.zeros_like(w)
    # w < eps: h = w/expm1(w) - log(m) = 1 - log(w) + w**2/24 (the w/2
    # terms of the two series cancel exactly), w**2/24 below eps.
    small_h = 1.0 - _small_log_product(y, beta, small)
    # There d/dy = 1/w + 1/2 + O(w) (inf where w underflows, as 1/w).
    small_dy = 1.0 / w + 0.5
    w = kops.where(small, zero + 1.0, w)
    deep = w > consts.deep_tail
    shift = kops.where(deep, zero + consts.tail_shift, zero)
    unshift = kops.where(deep, zero + consts.unshift, zero + 1.0)
    e = kops.exp(shift - w)  # u, shifted in the deep tail
    # w <= 1: m and expm1(w) from the series. Beyond: m = 1 - u and
    # w/expm1(w) = w*u/m, u <= 1/e, both without cancellation. The
    # relative sensitivity of 1/m to w is w*u/m <= 1: the rounding of w
    # costs at most half an ulp of d/dy.
    near = w <= 1.0
    w_near = kops.where(near, w, zero + 1.0)
    m = kops.where(near, -_expm1_unit(-w_near, consts), 1.0 - e)
    ratio = kops.where(near, w_near / _expm1_unit(w_near, consts), w * e / m)
    # -log(m): log(m) where w < log(2) (m < 1/2, well conditioned), the
    # series log1p(-u) beyond (u <= 1/2); in the deep tail e < eps/32,
    # where log1p(-e) is -e, shifted as e is.
    below_log2 = w < LOG_TWO
    lead, tail = _log1p_unit(-kops.where(below_log2, zero + 0.5, e), consts)
    log_m = kops.where(
        below_log2, kops.log(kops.where(below_log2, m, zero + 0.5)), lead + tail
    )
    h = ratio - log_m - ratio / m * w_lo
    dbeta = kops.where(small, small_h / beta / beta, h / beta / beta * unshift)
    return kops.where(small, small_dy, 1.0 / m), dbeta
