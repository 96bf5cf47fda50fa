"""The Student-t distribution of a `StudentTHead` output: split, NLL, CRPS.

`keras_softplus.losses.StudentTNLL` and its metric wrap these functions;
`keras_softplus.distributions.as_student_t` builds the TFP distribution.
Written with `keras.ops`, so every backend runs them, and none needs
TensorFlow Probability.
"""

import math

import keras
import numpy as np

from keras_softplus.ops._constants import INV_SQRT_PI
from keras_softplus.ops._constants import INV_SQRT_TWO_PI
from keras_softplus.ops.parameters import STUDENT_T_PARAMETERS
from keras_softplus.ops.parameters import align_targets
from keras_softplus.ops.parameters import mean_over_units
from keras_softplus.ops.parameters import split_parameters
from keras_softplus.ops.special import incomplete_beta_half
from keras_softplus.ops.special import log1p_square
from keras_softplus.ops.special import log_beta_half
from keras_softplus.ops.special import log_gamma_half_step
from keras_softplus.ops.special import normal_crps


def split_student_t_params(y_pred):
    """Splits a `StudentTHead` output `(..., 3*units)` into `(loc, scale, df)`.

    Formula:
    ```
    loc   = y_pred[..., :units]
    scale = y_pred[..., units:2*units]
    df    = y_pred[..., 2*units:]      units = y_pred.shape[-1] // 3
    ```

    Args:
        y_pred: tensor or array of shape `(..., 3*units)`.

    Returns:
        A tuple `(loc, scale, df)` of tensors of shape `(..., units)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.student_t import split_student_t_params
    >>> loc, scale, df = split_student_t_params(np.array([[0.0, 2.0, 5.0]]))
    >>> float(loc[0, 0]), float(scale[0, 0]), float(df[0, 0])
    (0.0, 2.0, 5.0)
    """
    return split_parameters(y_pred, STUDENT_T_PARAMETERS, "StudentTHead")


def student_t_stddev(y_pred):
    """The standard deviation `scale * sqrt(df / (df - 2))`, `(..., units)`.

    Finite for `df > 2`, which `StudentTHead` guarantees.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.student_t import student_t_stddev
    >>> student_t_stddev(np.array([[0.0, 1.0, 4.0]], "float32")).numpy()
    array([[1.4142135]], dtype=float32)
    """
    _, scale, df = split_student_t_params(y_pred)
    return scale * keras.ops.sqrt(df / (df - 2.0))


def student_t_nll(y_true, y_pred):
    """Per-sample negative log-likelihood of a `StudentTHead` output.

    Summed over the `units` axis; equals `-as_student_t(y_pred).log_prob(y_true)`
    (summed over the unit axis when `units == 1`).

    Formula:
    ```
    z   = (y - loc) / scale,  a = df / 2
    nll = log(scale) + log(df*pi)/2 + lgamma(a) - lgamma(a + 1/2)
          + (df + 1)/2 * log1p(z**2 / df)
        = log(scale) + log(2*pi)/2 + 1/2 - a*log1p(1/(2a))
          + stirling_error(a) - stirling_error(a + 1/2)
          + (df + 1)/2 * log1p(z**2 / df)
    ```
    The second form is computed: `lgamma(a) - lgamma(a + 1/2)` as a
    difference of two log-gammas would lose all float32 digits for large
    `df` (each is 1e7 at df = 2e6); here every term is O(1). `log1p(z**2/df)`
    is formed from `|z|/sqrt(df)` without squaring large values, so scales at
    the floor and outliers 1e4 scales away (or 1e18) give finite values and
    gradients.

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `StudentTHead` output, `(..., 3*units)`.

    Returns:
        A tensor of shape `(...)`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.student_t import student_t_nll
    >>> student_t_nll(np.array([[0.0], [10.0]], "float32"),
    ...               np.array([[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]], "float32")).numpy()
    array([1.0008..., 8.0731...], dtype=float32)

    Reference:
    - [Lange et al., 1989](https://doi.org/10.1080/01621459.1989.10478852)
    """
    loc, scale, df = split_student_t_params(y_pred)
    y_true = align_targets(y_true, loc)
    t = (y_true - loc) / (scale * keras.ops.sqrt(df))
    normalizer = (
        keras.ops.log(scale)
        + 0.5 * keras.ops.log(math.pi * df)
        - log_gamma_half_step(0.5 * df)
    )
    tail = 0.5 * (df + 1.0) * log1p_square(t)
    return keras.ops.sum(normalizer + tail, axis=-1)


def student_t_crps(y_true, y_pred):
    """Per-sample closed-form CRPS of a `StudentTHead` output, mean over units.

    The continuous ranked probability score (lower is better, in the units
    of `y_true`); it tends to the Normal's as `df` grows. Defined for
    `df > 1`; `StudentTHead` keeps `df > 2`.

    Formula:
    ```
    z = (y - loc) / scale
    CRPS = scale * (z*(2*F(z) - 1) + 2*f(z)*(df + z**2)/(df - 1)
                    - 2*sqrt(df)*B(1/2, df - 1/2) / ((df - 1)*B(1/2, df/2)**2))
    2*F(z) - 1 = sign(z) * I_{z**2/(df + z**2)}(1/2, df/2)
    ```
    `F`, `f`: the standard Student-t CDF and density; `B`: the beta
    function, in logs with `log_gamma_half_step`. `I` is the regularized
    incomplete beta function, which `keras.ops` lacks; it is computed by its
    continued fraction (`incomplete_beta_half`). For `df >= 1/sqrt(eps)`
    (2896 in float32, 6.7e7 in float64), where the fraction and the beta
    functions lose digits, the Normal's CRPS plus its `1/df` correction is
    used instead, exact to the dtype there:
    ```
    CRPS = CRPS_normal + scale * (phi(z)*(z**2 + 3)/2 - 7/(8*sqrt(pi))) / df
    ```

    Args:
        y_true: targets, `(..., units)`, or `(...)` when `units == 1`.
        y_pred: `StudentTHead` output, `(..., 3*units)`.

    Returns:
        The per-sample CRPS, `(...)`, in the units of `y_true`.

    Example:

    A target half a scale from the loc, with `df = 3`:

    >>> from keras_softplus.ops.student_t import student_t_crps
    >>> float(student_t_crps([[0.5]], [[0.0, 1.0, 3.0]])[0])
    0.3651...

    Reference:
    - [Jordan et al., 2019](https://doi.org/10.18637/jss.v090.i12),
      scoringRules.
    """
    loc, scale, df = split_student_t_params(y_pred)
    error = align_targets(y_true, loc) - loc
    eps = float(np.finfo(keras.backend.standardize_dtype(df.dtype)).eps)
    # Above df = 1/sqrt(eps) the expansion's O(1/df**2) error is below eps,
    # while the continued fraction and the beta functions lose digits.
    large_df = df >= 1.0 / math.sqrt(eps)
    t_df = keras.ops.where(large_df, keras.ops.full_like(df, 3.0), df)
    normal_df = keras.ops.where(
        large_df, df, keras.ops.full_like(df, 1.0 / math.sqrt(eps))
    )
    crps = keras.ops.where(
        large_df,
        normal_crps(error, scale)
        + scale * _inverse_df_correction(error, scale) / normal_df,
        _closed_form_crps(error, scale, t_df),
    )
    return mean_over_units(crps)


def _closed_form_crps(error, scale, df):
    """Jordan et al.'s closed form, with `scale*z*(2F(z) - 1)` as
    `error*(2F(z) - 1)`: its scale derivative then has no `z - z`
    cancellation far in the tails."""
    t = error / (scale * keras.ops.sqrt(df))
    half_df = 0.5 * df
    # At t = 0, 2F - 1 = 0; the fraction is evaluated at t = 1 there, as its
    # underflowing x = t**2 would give NaN gradients (PyTorch).
    zero = t == 0
    t_abs = keras.ops.where(zero, keras.ops.ones_like(t), keras.ops.abs(t))
    two_cdf_minus_one = keras.ops.where(
        zero,
        keras.ops.zeros_like(t),
        keras.ops.sign(t) * incomplete_beta_half(t_abs, half_df),
    )
    # f(z)*(df + z**2)/(df - 1), in logs: log f(z) = -log(sqrt(df)*B(1/2, df/2))
    # - (df + 1)/2 * log1p(t**2), and df + z**2 = df*(1 + t**2).
    log1p_t2 = log1p_square(t)
    log_density_term = (
        0.5 * keras.ops.log(df)
        - log_beta_half(half_df)
        - 0.5 * (df - 1.0) * log1p_t2
        - keras.ops.log(df - 1.0)
    )
    log_constant = (
        math.log(2.0)
        + 0.5 * keras.ops.log(df)
        + log_beta_half(df - 0.5)
        - keras.ops.log(df - 1.0)
        - 2.0 * log_beta_half(half_df)
    )
    return error * two_cdf_minus_one + scale * (
        2.0 * keras.ops.exp(log_density_term) - keras.ops.exp(log_constant)
    )


# Beyond |z| = 40, phi(z)*(z**2 + 3) is below the smallest float64.
CORRECTION_REACH = 40.0


def _inverse_df_correction(error, scale):
    """`c(z)` of `CRPS_df(z) = CRPS_normal(z) + c(z)/df + O(1/df**2)`:

    `c(z) = phi(z)*(z**2 + 3)/2 - 7/(8*sqrt(pi))`, from the expansions
    `f_df = phi*(1 + (z**4 - 2z**2 - 1)/(4 df))`, `F_df = Phi - phi*(z**3 +
    z)/(4 df)` and `B(1/2, df - 1/2)/B(1/2, df/2)**2 = ...(1 + 7/(8 df))`.
    `z` is formed only where `|z| <= 40`, so no `z**2` overflows."""
    inside = keras.ops.abs(error) <= CORRECTION_REACH * scale
    z = keras.ops.where(inside, error, keras.ops.zeros_like(error)) / keras.ops.where(
        inside, scale, keras.ops.ones_like(scale)
    )
    bump = (
        INV_SQRT_TWO_PI
        * keras.ops.exp(-0.5 * keras.ops.square(z))
        * (keras.ops.square(z) + 3.0)
        / 2.0
    )
    return (
        keras.ops.where(inside, bump, keras.ops.zeros_like(bump)) - 0.875 * INV_SQRT_PI
    )


__all__ = [
    "log_gamma_half_step",
    "split_student_t_params",
    "student_t_crps",
    "student_t_nll",
    "student_t_stddev",
]
