"""The options of `keras.layers.Dense` that the package's dense layers take
(`PositiveDense`, `PositiveHead`, the distribution heads)."""

import keras

# The options of `keras.layers.Dense` that the package's dense layers take,
# each with the Keras module that gets and serializes its values.
DENSE_OPTION_MODULES = {
    "kernel_initializer": keras.initializers,
    "bias_initializer": keras.initializers,
    "kernel_regularizer": keras.regularizers,
    "bias_regularizer": keras.regularizers,
    "kernel_constraint": keras.constraints,
    "bias_constraint": keras.constraints,
}


def serialize_dense_options(layer, options):
    """`{option: serialized value}` of the named Dense options of `layer`.

    Args:
        layer: a layer holding each option as an attribute of its name.
        options: names of `DENSE_OPTION_MODULES`, in config order.

    Returns:
        A dict of the options' serialized values (`None` stays `None`).
    """
    return {
        option: DENSE_OPTION_MODULES[option].serialize(getattr(layer, option))
        for option in options
    }
