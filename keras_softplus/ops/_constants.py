"""The constants of the package's math, each defined once.

`KernelConstants`: per-dtype thresholds of the softplus kernel. Every
threshold is derived from the floating-point format, never typed in as a
bare literal, so that float32 and float64 get the cut-offs that are right
for them. Below them, the mathematical constants of the distributions.
Needs NumPy only (docs/make_plots.py loads this file alone).
"""

import decimal
import math

import numpy as np

# Where softplus_inverse changes formula (see `_kernel.softplus_inverse`).
LOG_THREE_HALVES = math.log(1.5)
LOG_TWO = math.log(2.0)
LOG_THREE = math.log(3.0)
HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
INV_SQRT_TWO = 1.0 / math.sqrt(2.0)
INV_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)


class KernelConstants:
    """Thresholds and split parameters of one working dtype (float32/64).

    Attributes:
        eps: machine epsilon, `2**-(p-1)` for a `p`-bit significand.
        tiny: smallest positive normal number.
        max: largest finite number.
        split_bits: low significand bits removed by the Dekker split,
            `ceil(p / 2)`, so both halves multiply without rounding.
        deep_tail: `-log(16 * tiny / eps)`. Beyond it, the first-order
            corrections (of relative size ~eps) to `exp(-|z|)` would fall
            below `tiny` and be flushed to zero on CPU, so the kernel works on
            `exp(-|z| + tail_shift)` instead and scales back at the end.
        tail_shift: integer shift `floor(log(eps**2 / (512 * tiny)))`, the
            largest that keeps the shifted exponential at most `eps / 32`
            where the deep tail starts, so `log1p(e) == e` and
            `e / (1 + e) == e` hold for it to 1/64 ulp. Being an integer
            below `|z|`, `tail_shift - |z|` is exact.
        log1p_terms: coefficients `1/(2k+1)`, k = 1..K, of the series
            `log1p(e) = 2*atanh(t) = 2t * (1 + t**2/3 + t**4/5 + ...)`
            with `t = e/(2+e) <= 1/3`; K is the smallest order whose
            truncation error `(1/9)**(K+1) / (2K+3)` is below `eps/4`.
        expm1_terms: coefficients `1/k!`, k = 2..N+1, of the series
            `expm1(x) = x + x**2 * (1/2! + x/3! + x**2/4! + ...)` for
            `|x| <= 1`; N is the smallest count whose truncation error
            `1/(N+2)!`, relative to `|expm1(x)| >= (1 - 1/e) * |x|`, is
            below `eps/8`.
        log_two_hi, log_two_lo: `log(2) = log_two_hi + log_two_lo`, the
            first rounded to the dtype, the second the rest (rounded).
    """

    def __init__(self, numpy_dtype):
        info = np.finfo(numpy_dtype)
        significand_bits = info.nmant + 1
        self.eps = float(info.eps)
        self.tiny = float(info.tiny)
        self.max = float(info.max)
        self.int_dtype = np.dtype(f"int{info.bits}")
        self.split_bits = (significand_bits + 1) // 2
        self.deep_tail = -math.log(16 * self.tiny / self.eps)
        self.tail_shift = float(math.floor(math.log(self.eps**2 / (512 * self.tiny))))
        self.unshift = math.exp(-self.tail_shift)
        order = 1
        while (1.0 / 9.0) ** (order + 1) / (2 * order + 3) >= self.eps / 4:
            order += 1
        self.log1p_terms = [1.0 / (2 * k + 1) for k in range(1, order + 1)]
        terms = 1
        while 1.0 / (math.factorial(terms + 2) * (1 - math.exp(-1))) >= self.eps / 8:
            terms += 1
        self.expm1_terms = [1.0 / math.factorial(k) for k in range(2, terms + 2)]
        with decimal.localcontext() as context:
            context.prec = 40
            log_two = decimal.Decimal(2).ln()
            self.log_two_hi = float(numpy_dtype.type(float(log_two)))
            self.log_two_lo = float(log_two - decimal.Decimal(self.log_two_hi))


# Built at import, so that looking them up is a plain dictionary read that
# `torch.compile` can trace (it cannot run the `decimal` code above).
KERNEL_CONSTANTS = {
    name: KernelConstants(np.dtype(name)) for name in ("float32", "float64")
}


def constants_for(dtype_name):
    """`KernelConstants` for `"float32"` or `"float64"`."""
    return KERNEL_CONSTANTS[dtype_name]
