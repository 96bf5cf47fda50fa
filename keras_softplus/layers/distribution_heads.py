"""Distribution heads: a head declares its parameters, positive or not.

A distribution head declares its parameters (`HeadParameter`) and which of
them are positive. `DistributionHead` turns the declaration into one `Dense`
per unconstrained parameter and one `PositiveHead` per positive parameter,
and concatenates their outputs on the last axis, parameter by parameter.
Positivity, its floor and its initial value come from
`keras_softplus.positivity`; the math of each distribution lives in
`keras_softplus.ops`.
"""

import dataclasses

import keras

from keras_softplus._registration import register_public
from keras_softplus.layers.positive_dense import DENSE_OPTION_MODULES
from keras_softplus.layers.positive_head import PositiveHead
from keras_softplus.ops._validation import positive_integer
from keras_softplus.ops._validation import real_number
from keras_softplus.ops._validation import representable
from keras_softplus.positivity import positive_floor


@dataclasses.dataclass(frozen=True)
class HeadParameter:
    """One parameter of a distribution head.

    Args:
        name: the parameter's name, e.g. `"loc"`; its layer arguments are
            `<name>_kernel_initializer`, `min_<name>`, ...
        positive: whether the parameter is kept above a floor.
        min_value: the floor of a positive parameter, a finite float > 0;
            `None` for `positive_floor` of the layer's compute dtype.
        initial_value: the value of a positive parameter for a zero input
            at initialisation, > its floor.
    """

    name: str
    positive: bool = False
    min_value: float | None = None
    initial_value: float = 1.0


def _layer_attribute(parameter):
    """`<name>_head` for a positive parameter, `<name>_dense` otherwise."""
    return f"{parameter.name}_{'head' if parameter.positive else 'dense'}"


@register_public
class DistributionHead(keras.layers.Layer):
    """Dense head that outputs the parameters of a distribution.

    Each declared parameter gets its own dense map of the inputs, `units`
    wide: a `keras.layers.Dense` (`layer.<name>_dense`) for an unconstrained
    parameter, a `PositiveHead` (`layer.<name>_head`) for a positive one,
    whose floor and initial value the declaration gives. The output
    concatenates the parameters on the last axis, in declaration order:
    `(..., len(parameters) * units)`.

    Formula:
    ```
    unconstrained parameter = inputs @ kernel + bias
    positive parameter      = min_value + softplus(inputs @ kernel + bias)
    outputs = concatenate([parameter for each parameter], axis=-1)
    ```

    The dense maps take the options of `keras.layers.Dense`, prefixed by
    the parameter's name: `loc_kernel_initializer`, `scale_bias_regularizer`,
    and so on (`kernel_initializer`, `bias_initializer`,
    `kernel_regularizer`, `bias_regularizer`, `kernel_constraint`,
    `bias_constraint`). A positive parameter takes no `bias_initializer`: its
    bias is set by its initial value.

    Args:
        units: positive integer, number of outputs per parameter.
        parameters: the `HeadParameter`s (or their dicts), in output order.
        **kwargs: the prefixed Dense options above, and base layer keyword
            arguments such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.layers import DistributionHead, HeadParameter
    >>> head = DistributionHead(2, [HeadParameter("loc"),
    ...                             HeadParameter("scale", positive=True,
    ...                                           initial_value=0.5)])
    >>> head(np.zeros((1, 3))).numpy()
    array([[0. , 0. , 0.5, 0.5]], dtype=float32)
    """

    def __init__(self, units, parameters, **kwargs):
        parameters = tuple(
            HeadParameter(**p) if isinstance(p, dict) else p for p in parameters
        )
        names = [parameter.name for parameter in parameters]
        if not names or len(set(names)) != len(names):
            raise ValueError(
                "`parameters` must name at least one parameter, each once. "
                f"Received: parameters={names}"
            )
        options = {
            (name, option): kwargs.pop(f"{name}_{option}")
            for name in names
            for option in DENSE_OPTION_MODULES
            if f"{name}_{option}" in kwargs
        }
        super().__init__(**kwargs)
        self.units = positive_integer(units, "units")
        # Not `self.parameters`: on PyTorch, layers are `torch.nn.Module`s.
        self.head_parameters = tuple(
            self._validated(parameter, options) for parameter in parameters
        )
        self.options = {
            key: DENSE_OPTION_MODULES[key[1]].get(value)
            for key, value in options.items()
        }
        for parameter in self.head_parameters:
            setattr(self, _layer_attribute(parameter), self._parameter_layer(parameter))
        self.supports_masking = True

    def _validated(self, parameter, options):
        """The parameter with its floor resolved and checked."""
        if not parameter.positive:
            return parameter
        floor_name = f"min_{parameter.name}"
        initial_name = f"initial_{parameter.name}"
        if ((parameter.name, "bias_initializer")) in options:
            raise ValueError(
                f"`{parameter.name}_bias_initializer` is not accepted: the bias "
                f"of the positive parameter `{parameter.name}` is set by "
                f"`{initial_name}`. Received: {parameter.name}_bias_initializer="
                f"{options[(parameter.name, 'bias_initializer')]!r}"
            )
        if parameter.min_value is None:
            floor = positive_floor(self.compute_dtype)
        else:
            floor = real_number(parameter.min_value, floor_name)
            if floor <= 0:
                raise ValueError(
                    f"`{floor_name}` must be > 0. Received: {floor_name}="
                    f"{parameter.min_value!r}"
                )
            representable(floor, floor_name, self.compute_dtype)
        initial = real_number(parameter.initial_value, initial_name)
        if not initial > floor:
            raise ValueError(
                f"`{initial_name}` must be > `{floor_name}`. Received: "
                f"{initial_name}={parameter.initial_value!r}, {floor_name}={floor!r}"
            )
        return dataclasses.replace(parameter, min_value=floor, initial_value=initial)

    def _parameter_layer(self, parameter):
        """The dense map of one parameter."""
        options = {
            option: value
            for (name, option), value in self.options.items()
            if name == parameter.name
        }
        if parameter.positive:
            layer = PositiveHead(
                self.units,
                min_value=parameter.min_value,
                initial_value=parameter.initial_value,
                dtype=self.dtype_policy,
                name=parameter.name,
                **options,
            )
        else:
            layer = keras.layers.Dense(
                self.units, dtype=self.dtype_policy, name=parameter.name, **options
            )
        return layer

    def _parameter_layers(self):
        # Attributes, not a list: saved files name each layer by its
        # attribute (`loc_dense`, `scale_head`), as 0.1.0's NormalHead did.
        return [getattr(self, _layer_attribute(p)) for p in self.head_parameters]

    def build(self, input_shape):
        for layer in self._parameter_layers():
            layer.build(input_shape)

    def call(self, inputs):
        outputs = [layer(inputs) for layer in self._parameter_layers()]
        return keras.ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (len(self.head_parameters) * self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        config["parameters"] = [dataclasses.asdict(p) for p in self.head_parameters]
        for (name, option), value in self.options.items():
            config[f"{name}_{option}"] = DENSE_OPTION_MODULES[option].serialize(value)
        return config


def _positive_arguments(head):
    """`{"min_<name>": floor, "initial_<name>": value}` of each positive
    parameter of `head`: the config keys of the named heads below."""
    arguments = {}
    for parameter in head.head_parameters:
        if parameter.positive:
            arguments[f"min_{parameter.name}"] = parameter.min_value
            arguments[f"initial_{parameter.name}"] = parameter.initial_value
    return arguments


class _NamedHead(DistributionHead):
    """A distribution head whose class fixes its parameters.

    Its config holds `units`, then `min_<name>` and `initial_<name>` for
    each positive parameter (the resolved floor), instead of the generic
    `parameters` list, and these are also attributes of the layer.
    """

    def __init__(self, units, parameters, **kwargs):
        kwargs.pop("parameters", None)
        super().__init__(units, parameters, **kwargs)
        for argument, value in _positive_arguments(self).items():
            setattr(self, argument, value)

    def get_config(self):
        config = super().get_config()
        del config["parameters"]
        config.update(_positive_arguments(self))
        return config


@register_public
class NormalHead(_NamedHead):
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
            [
                HeadParameter("loc"),
                HeadParameter(
                    "scale",
                    positive=True,
                    min_value=min_scale,
                    initial_value=initial_scale,
                ),
            ],
            **kwargs,
        )


@register_public
class StudentTHead(_NamedHead):
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
            fixed float > 2.
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
        parameters = [
            HeadParameter("loc"),
            HeadParameter(
                "scale", positive=True, min_value=min_scale, initial_value=initial_scale
            ),
        ]
        if real_number(min_df, "min_df") < 2:
            raise ValueError(
                "`min_df` must be >= 2, so that the variance is finite. "
                f"Received: min_df={min_df!r}"
            )
        if df is None:
            parameters.append(
                HeadParameter(
                    "df", positive=True, min_value=min_df, initial_value=initial_df
                )
            )
        elif real_number(df, "df") <= 2:
            raise ValueError(
                f"`df` must be > 2, so that the variance is finite. Received: df={df!r}"
            )
        super().__init__(units, parameters, **kwargs)
        self.df = None if df is None else float(df)
        if df is not None:
            # Not used with a fixed df; kept so that the config round-trips.
            self.min_df = float(min_df)
            self.initial_df = real_number(initial_df, "initial_df")

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
class PoissonHead(_NamedHead):
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
            [
                HeadParameter(
                    "rate",
                    positive=True,
                    min_value=min_rate,
                    initial_value=initial_rate,
                )
            ],
            **kwargs,
        )


@register_public
class NegativeBinomialHead(_NamedHead):
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
            [
                HeadParameter(
                    "mean",
                    positive=True,
                    min_value=min_mean,
                    initial_value=initial_mean,
                ),
                HeadParameter(
                    "total_count",
                    positive=True,
                    min_value=min_total_count,
                    initial_value=initial_total_count,
                ),
            ],
            **kwargs,
        )


@register_public
class GammaHead(_NamedHead):
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
            [
                HeadParameter(
                    "concentration",
                    positive=True,
                    min_value=min_concentration,
                    initial_value=initial_concentration,
                ),
                HeadParameter(
                    "rate",
                    positive=True,
                    min_value=min_rate,
                    initial_value=initial_rate,
                ),
            ],
            **kwargs,
        )
