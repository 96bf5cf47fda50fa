"""`DistributionHead`: a head declares its parameters, positive or not.

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
from keras_softplus.layers.dense_options import DENSE_OPTION_MODULES
from keras_softplus.layers.positive_head import PositiveHead
from keras_softplus.layers.positive_head import check_initial_value
from keras_softplus.ops._validation import positive_integer
from keras_softplus.ops._validation import positive_number
from keras_softplus.ops._validation import real_number
from keras_softplus.ops._validation import representable
from keras_softplus.ops.parameters import HeadParameter
from keras_softplus.positivity import SoftplusPositive
from keras_softplus.positivity import positive_floor


def layer_attribute(parameter):
    """`<name>_head` for a positive parameter, `<name>_dense` otherwise: the
    attribute that holds the parameter's layer (`loc_dense`, `scale_head`,
    `df_head`, `rate_head`, `mean_head`, `total_count_head`,
    `concentration_head` for the named heads). Saved files name each layer
    by this attribute, so it stays as 0.1.0's `NormalHead` named it."""
    return f"{parameter.name}_{'head' if parameter.positive else 'dense'}"


def declared_parameters(parameters):
    """`parameters` as a tuple of `HeadParameter`s, dicts converted;
    TypeError unless it is a list (or tuple) of `HeadParameter`s or dicts of
    their fields."""
    fields = [field.name for field in dataclasses.fields(HeadParameter)]
    message = (
        "`parameters` must be a list of `HeadParameter`s (or dicts of their "
        f"fields: {', '.join(fields)}). Received: parameters={parameters!r}"
    )
    if not isinstance(parameters, (list, tuple)):
        raise TypeError(message)
    declared = []
    for parameter in parameters:
        if isinstance(parameter, dict):
            if "name" not in parameter or not set(parameter) <= set(fields):
                raise TypeError(message)
            parameter = HeadParameter(**parameter)
        if not isinstance(parameter, HeadParameter):
            raise TypeError(message)
        declared.append(parameter)
    return tuple(declared)


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
        parameters = declared_parameters(parameters)
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
        self._set_parameter_layers(
            {p.name: self._parameter_layer(p) for p in self.head_parameters}
        )
        self.supports_masking = True

    def _set_parameter_layers(self, layers):
        """Holds each parameter's layer (`layers`, by parameter name) in its
        attribute, `layer_attribute(parameter)`. The attributes of a declared
        head are named by its declaration; each named head overrides this to
        assign its own attributes."""
        for parameter in self.head_parameters:
            setattr(self, layer_attribute(parameter), layers[parameter.name])

    def _validated(self, parameter, options):
        """The parameter with its floor resolved, and its floor and initial
        value checked in the compute dtype."""
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
            floor = positive_number(parameter.min_value, floor_name)
            representable(floor, floor_name, self.compute_dtype)
        initial = real_number(parameter.initial_value, initial_name)
        if not initial > floor:
            raise ValueError(
                f"`{initial_name}` must be > `{floor_name}`. Received: "
                f"{initial_name}={parameter.initial_value!r}, {floor_name}={floor!r}"
            )
        check_initial_value(
            SoftplusPositive(min_value=floor), initial, initial_name, self.dtype_policy
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
        return [getattr(self, layer_attribute(p)) for p in self.head_parameters]

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


def positive_arguments(head):
    """`{"min_<name>": floor, "initial_<name>": value}` of each positive
    parameter of `head`: the config keys of the named heads below."""
    arguments = {}
    for parameter in head.head_parameters:
        if parameter.positive:
            arguments[f"min_{parameter.name}"] = parameter.min_value
            arguments[f"initial_{parameter.name}"] = parameter.initial_value
    return arguments


class NamedDistributionHead(DistributionHead):
    """A distribution head whose class fixes its parameters.

    Its config holds `units`, then `min_<name>` and `initial_<name>` for
    each positive parameter (the resolved floor), instead of the generic
    `parameters` list. Each named head assigns its layer attributes in
    `_set_parameter_layers` and these arguments as attributes of its own.
    """

    def __init__(self, units, parameters, **kwargs):
        kwargs.pop("parameters", None)
        super().__init__(units, parameters, **kwargs)

    def _set_parameter_layers(self, layers):
        raise NotImplementedError(
            f"{type(self).__name__} must assign its parameters' layers."
        )

    def get_config(self):
        config = super().get_config()
        del config["parameters"]
        config.update(positive_arguments(self))
        return config
