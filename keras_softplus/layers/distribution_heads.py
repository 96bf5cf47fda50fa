"""The named distribution heads: Normal, Student-t, Poisson, negative
binomial and Gamma. Each reads its output layout from
`keras_softplus.ops.parameters` (the declaration the split functions read
too) and sets the floors and initial values of its positive parameters.
"""

import dataclasses

import keras

from keras_softplus._registration import register_public
from keras_softplus.layers.distribution_head import DistributionHead
from keras_softplus.layers.distribution_head import NamedDistributionHead
from keras_softplus.ops._validation import real_number
from keras_softplus.ops._validation import representable
from keras_softplus.ops.parameters import GAMMA_PARAMETERS
from keras_softplus.ops.parameters import NEGATIVE_BINOMIAL_PARAMETERS
from keras_softplus.ops.parameters import NORMAL_PARAMETERS
from keras_softplus.ops.parameters import POISSON_PARAMETERS
from keras_softplus.ops.parameters import STUDENT_T_PARAMETERS
from keras_softplus.ops.parameters import HeadParameter


def _with_values(layout, **values):
    """The layout's parameters, each positive one with its floor and initial
    value from `values`: `min_<name>` and `initial_<name>`."""
    return [
        dataclasses.replace(
            parameter,
            min_value=values[f"min_{parameter.name}"],
            initial_value=values[f"initial_{parameter.name}"],
        )
        if parameter.positive
        else parameter
        for parameter in layout
    ]


@register_public
class NormalHead(NamedDistributionHead):
    """Heteroscedastic Normal head: a loc and a positive scale per unit.

    Outputs one tensor of shape `(..., 2*units)`: the loc (a linear `Dense`,
    `layer.loc_dense`) in the first `units` entries and the scale (a
    `PositiveHead`, `layer.scale_head`) in the last `units`. Split it with
    `keras_softplus.distributions.split_normal_params`, turn it into a
    TensorFlow Probability distribution with
    `keras_softplus.distributions.as_normal` (or `as_mixture` for an
    ensemble), and train it with `keras_softplus.losses.NormalNLL`. Neither
    the layer nor the loss needs TensorFlow Probability.

    Formula:
    ```
    loc   = inputs @ loc_kernel + loc_bias
    scale = min_scale + softplus(inputs @ scale_kernel + scale_bias)
    outputs = concatenate([loc, scale], axis=-1)
    ```
    At initialisation a zero input gives `loc = 0` (with the default
    `loc_bias_initializer`) and `scale = initial_scale`;
    `scale_kernel_initializer="zeros"` makes the scale start at
    `initial_scale` for every input. `scale > min_scale` mathematically
    (`== min_scale` only where the softplus underflows). Under a mixed
    precision policy, give the head `dtype="float32"`: a float16 scale keeps
    3 significant digits.

    Args:
        units: positive integer, dimension of the predicted Normal.
        min_scale: lower bound of the scale, a finite float > 0 (a zero
            scale would make the likelihood infinite) that does not
            underflow to 0 in the compute dtype.
        initial_scale: scale for a zero input at initialisation, a finite
            float > `min_scale`.
        **kwargs: the options of `keras.layers.Dense` for each part,
            prefixed `loc_` or `scale_` (`loc_kernel_initializer`,
            `loc_bias_initializer`, `loc_kernel_regularizer`,
            `loc_bias_regularizer`, `loc_kernel_constraint`,
            `loc_bias_constraint`, and the same for `scale_` but its bias
            initializer, which `initial_scale` sets), and base layer keyword
            arguments, such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.NormalHead(units=2, initial_scale=0.5)
    >>> head(np.zeros((1, 3))).numpy()
    array([[0. , 0. , 0.5, 0.5]], dtype=float32)
    >>> flat = keras_softplus.layers.NormalHead(
    ...     initial_scale=0.5, scale_kernel_initializer="zeros")
    >>> flat(np.random.normal(size=(3, 4))).numpy()[:, 1]
    array([0.5, 0.5, 0.5], dtype=float32)

    Reference:
    - [Nix & Weigend, 1994](https://doi.org/10.1109/ICNN.1994.374138)
    - [Lakshminarayanan et al., 2017](https://arxiv.org/abs/1612.01474)
    """

    def __init__(self, units=1, min_scale=1e-6, initial_scale=1.0, **kwargs):
        super().__init__(
            units,
            _with_values(
                NORMAL_PARAMETERS, min_scale=min_scale, initial_scale=initial_scale
            ),
            **kwargs,
        )
        self.min_scale = self.scale_head.min_value
        self.initial_scale = self.scale_head.initial_value

    def _set_parameter_layers(self, layers):
        self.loc_dense = layers["loc"]
        self.scale_head = layers["scale"]


@register_public
class StudentTHead(NamedDistributionHead):
    """Student-t head: a loc, a positive scale and degrees of freedom > 2.

    Outputs one tensor of shape `(..., 3*units)`: the loc (a `Dense`,
    `layer.loc_dense`), the scale (a `PositiveHead`, `layer.scale_head`)
    and the degrees of freedom `df` (a `PositiveHead` with floor `min_df`,
    `layer.df_head`, learned per input; or, with a fixed `df`, that constant).
    Its heavy tails make the fitted loc robust to outliers. Train it with
    `keras_softplus.losses.StudentTNLL`; turn it into a TFP distribution
    with `keras_softplus.distributions.as_student_t`.

    Formula:
    ```
    loc   = inputs @ loc_kernel + loc_bias
    scale = min_scale + softplus(inputs @ scale_kernel + scale_bias)
    df    = min_df + softplus(inputs @ df_kernel + df_bias)      (or fixed df)
    outputs = concatenate([loc, scale, df], axis=-1)
    variance = scale**2 * df / (df - 2)
    ```
    `df > min_df >= 2` keeps the variance finite (`== min_df` only where the
    softplus underflows). A zero input gives `scale = initial_scale` and
    `df = initial_df` at initialisation.

    Args:
        units: positive integer, dimension of the predicted Student-t.
        min_scale: floor of the scale, a finite float > 0; `None` (default)
            for the eps of the compute dtype (`positive_floor`).
        initial_scale: scale for a zero input at initialisation, > the floor.
        df: `None` (default) to learn the degrees of freedom per input, or a
            fixed float > 2 that does not overflow the compute dtype.
        min_df: floor of a learned `df`, a float >= 2.
        initial_df: learned `df` for a zero input at initialisation,
            > `min_df`.
        **kwargs: the options of `keras.layers.Dense` for each part,
            prefixed `loc_`, `scale_` or `df_` (as for `NormalHead`), and
            base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.StudentTHead(initial_scale=0.5)
    >>> head(np.zeros((1, 3))).numpy()
    array([[0. , 0.5, 5. ]], dtype=float32)
    >>> fixed = keras_softplus.layers.StudentTHead(units=2, df=3.0)
    >>> fixed(np.ones((1, 3))).numpy()[:, 4:]
    array([[3., 3.]], dtype=float32)

    Reference:
    - [Lange et al., 1989](https://doi.org/10.1080/01621459.1989.10478852)
    - [Salinas et al., 2020](https://arxiv.org/abs/1704.04110), DeepAR.
    """

    def __init__(
        self,
        units=1,
        min_scale=None,
        initial_scale=1.0,
        df=None,
        min_df=2.0,
        initial_df=5.0,
        **kwargs,
    ):
        parameters = _with_values(
            STUDENT_T_PARAMETERS,
            min_scale=min_scale,
            initial_scale=initial_scale,
            min_df=min_df,
            initial_df=initial_df,
        )
        if real_number(min_df, "min_df") < 2:
            raise ValueError(
                "`min_df` must be >= 2, so that the variance is finite. "
                f"Received: min_df={min_df!r}"
            )
        if df is not None:
            parameters = parameters[:-1]  # a fixed df has no layer
        if df is not None and real_number(df, "df") <= 2:
            raise ValueError(
                f"`df` must be > 2, so that the variance is finite. Received: df={df!r}"
            )
        super().__init__(units, parameters, **kwargs)
        self.min_scale = self.scale_head.min_value
        self.initial_scale = self.scale_head.initial_value
        if df is None:
            self.df = None
            self.min_df = self.df_head.min_value
            self.initial_df = self.df_head.initial_value
        else:
            self.df = representable(float(df), "df", self.compute_dtype)
            # Not used with a fixed df; kept so that the config round-trips.
            self.min_df = float(min_df)
            self.initial_df = real_number(initial_df, "initial_df")

    def _set_parameter_layers(self, layers):
        self.loc_dense = layers["loc"]
        self.scale_head = layers["scale"]
        if "df" in layers:  # a fixed df has no layer
            self.df_head = layers["df"]

    def call(self, inputs):
        outputs = super().call(inputs)
        if self.df is None:
            return outputs
        fixed_df = keras.ops.full_like(outputs[..., : self.units], self.df)
        return keras.ops.concatenate([outputs, fixed_df], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3 * self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"df": self.df, "min_df": self.min_df, "initial_df": self.initial_df}
        )
        return config


@register_public
class PoissonHead(NamedDistributionHead):
    """Poisson head: a positive rate per unit, for counts.

    Outputs one tensor of shape `(..., units)`: the rate (a `PositiveHead`,
    `layer.rate_head`). Train it with `keras_softplus.losses.PoissonNLL`;
    turn it into a TFP distribution with
    `keras_softplus.distributions.as_poisson`.

    Formula:
    ```
    rate = min_rate + softplus(inputs @ rate_kernel + rate_bias)
    mean = variance = rate
    ```
    Softplus grows linearly, not exponentially as the usual log link does,
    so one large input cannot overflow the rate.

    Args:
        units: positive integer, number of predicted counts.
        min_rate: floor of the rate, a finite float > 0; `None` (default)
            for the eps of the compute dtype.
        initial_rate: rate for a zero input at initialisation, > the floor;
            the mean count of the training data is a good choice.
        **kwargs: the options of `keras.layers.Dense`, prefixed `rate_`
            (`rate_kernel_initializer`, ...), and base layer keyword
            arguments, such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.PoissonHead(units=2, initial_rate=3.0)
    >>> head(np.zeros((1, 4))).numpy()
    array([[3., 3.]], dtype=float32)
    """

    def __init__(self, units=1, min_rate=None, initial_rate=1.0, **kwargs):
        super().__init__(
            units,
            _with_values(
                POISSON_PARAMETERS, min_rate=min_rate, initial_rate=initial_rate
            ),
            **kwargs,
        )
        self.min_rate = self.rate_head.min_value
        self.initial_rate = self.rate_head.initial_value

    def _set_parameter_layers(self, layers):
        self.rate_head = layers["rate"]


@register_public
class NegativeBinomialHead(NamedDistributionHead):
    """Negative binomial head: a positive mean and total count per unit.

    Outputs one tensor of shape `(..., 2*units)`: the mean (a
    `PositiveHead`, `layer.mean_head`), then the total count, the
    dispersion `r` (`layer.total_count_head`). For over-dispersed counts;
    the Poisson is the limit `total_count -> inf`. Train it with
    `keras_softplus.losses.NegativeBinomialNLL`; turn it into a TFP
    distribution with `keras_softplus.distributions.as_negative_binomial`.

    Formula:
    ```
    mean        = min_mean + softplus(inputs @ mean_kernel + mean_bias)
    total_count = min_total_count + softplus(inputs @ total_count_kernel + ...)
    variance    = mean + mean**2 / total_count
    ```

    Args:
        units: positive integer, number of predicted counts.
        min_mean: floor of the mean, a finite float > 0; `None` (default)
            for the eps of the compute dtype.
        initial_mean: mean for a zero input at initialisation, > the floor.
        min_total_count: floor of the total count; `None` (default) for the
            eps of the compute dtype.
        initial_total_count: total count for a zero input at
            initialisation, > the floor.
        **kwargs: the options of `keras.layers.Dense`, prefixed `mean_` or
            `total_count_`, and base layer keyword arguments.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.NegativeBinomialHead(
    ...     initial_mean=4.0, initial_total_count=2.0)
    >>> head(np.zeros((1, 3))).numpy()
    array([[4., 2.]], dtype=float32)

    Reference:
    - [Hilbe, 2011](https://doi.org/10.1017/CBO9780511973420), NB2.
    """

    def __init__(
        self,
        units=1,
        min_mean=None,
        initial_mean=1.0,
        min_total_count=None,
        initial_total_count=1.0,
        **kwargs,
    ):
        super().__init__(
            units,
            _with_values(
                NEGATIVE_BINOMIAL_PARAMETERS,
                min_mean=min_mean,
                initial_mean=initial_mean,
                min_total_count=min_total_count,
                initial_total_count=initial_total_count,
            ),
            **kwargs,
        )
        self.min_mean = self.mean_head.min_value
        self.initial_mean = self.mean_head.initial_value
        self.min_total_count = self.total_count_head.min_value
        self.initial_total_count = self.total_count_head.initial_value

    def _set_parameter_layers(self, layers):
        self.mean_head = layers["mean"]
        self.total_count_head = layers["total_count"]


@register_public
class GammaHead(NamedDistributionHead):
    """Gamma head: a positive concentration and rate per unit.

    Outputs one tensor of shape `(..., 2*units)`: the concentration (shape,
    `layer.concentration_head`), then the rate (`layer.rate_head`), both
    `PositiveHead`s. For positive, skewed targets (durations, amounts).
    Train it with `keras_softplus.losses.GammaNLL`; turn it into a TFP
    distribution with `keras_softplus.distributions.as_gamma`.

    Formula:
    ```
    concentration = min_concentration + softplus(inputs @ kernel_c + bias_c)
    rate          = min_rate + softplus(inputs @ kernel_r + bias_r)
    mean = concentration / rate,  variance = concentration / rate**2
    ```

    Args:
        units: positive integer, number of predicted values.
        min_concentration: floor of the concentration, a finite float > 0;
            `None` (default) for the eps of the compute dtype.
        initial_concentration: concentration for a zero input at
            initialisation, > the floor.
        min_rate: floor of the rate; `None` (default) for the eps of the
            compute dtype.
        initial_rate: rate for a zero input at initialisation, > the floor.
        **kwargs: the options of `keras.layers.Dense`, prefixed
            `concentration_` or `rate_`, and base layer keyword arguments.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.GammaHead(initial_concentration=2.0,
    ...                                        initial_rate=0.5)
    >>> head(np.zeros((1, 3))).numpy()
    array([[2. , 0.5]], dtype=float32)
    """

    def __init__(
        self,
        units=1,
        min_concentration=None,
        initial_concentration=1.0,
        min_rate=None,
        initial_rate=1.0,
        **kwargs,
    ):
        super().__init__(
            units,
            _with_values(
                GAMMA_PARAMETERS,
                min_concentration=min_concentration,
                initial_concentration=initial_concentration,
                min_rate=min_rate,
                initial_rate=initial_rate,
            ),
            **kwargs,
        )
        self.min_concentration = self.concentration_head.min_value
        self.initial_concentration = self.concentration_head.initial_value
        self.min_rate = self.rate_head.min_value
        self.initial_rate = self.rate_head.initial_value

    def _set_parameter_layers(self, layers):
        self.concentration_head = layers["concentration"]
        self.rate_head = layers["rate"]


__all__ = [
    "DistributionHead",
    "GammaHead",
    "HeadParameter",
    "NegativeBinomialHead",
    "NormalHead",
    "PoissonHead",
    "StudentTHead",
]
