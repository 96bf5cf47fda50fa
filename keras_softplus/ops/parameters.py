"""The output layout of the distribution heads, declared once.

A head with `units` outputs per parameter concatenates its parameters on the
last axis: `(..., n_parameters * units)`, parameter by parameter. Each
head's layout is declared here as a tuple of `HeadParameter`s
(`NORMAL_PARAMETERS`, ...): the layers of `keras_softplus.layers` build
their dense maps from it, and each distribution's module (`normal`, ...)
splits the output by it with `split_parameters`.
"""

import dataclasses

import keras

from keras_softplus.ops._execution import shaped_at_run_time
from keras_softplus.ops._execution import static_shape


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

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                "`name` must be a non-empty string usable as a Python name, "
                f"e.g. 'loc'. Received: name={self.name!r}"
            )
        if not isinstance(self.positive, bool):
            raise TypeError(
                "`positive` must be True or False. "
                f"Received: positive={self.positive!r}"
            )


NORMAL_PARAMETERS = (HeadParameter("loc"), HeadParameter("scale", positive=True))
STUDENT_T_PARAMETERS = (
    HeadParameter("loc"),
    HeadParameter("scale", positive=True),
    # df > 2 keeps the variance finite.
    HeadParameter("df", positive=True, min_value=2.0, initial_value=5.0),
)
POISSON_PARAMETERS = (HeadParameter("rate", positive=True),)
NEGATIVE_BINOMIAL_PARAMETERS = (
    HeadParameter("mean", positive=True),
    HeadParameter("total_count", positive=True),
)
GAMMA_PARAMETERS = (
    HeadParameter("concentration", positive=True),
    HeadParameter("rate", positive=True),
)


def split_parameters(y_pred, parameters, head):
    """Splits a head output `(..., len(parameters)*units)` into its parameters.

    Formula:
    ```
    units = y_pred.shape[-1] // len(names)
    parameter k = y_pred[..., k*units:(k+1)*units]
    ```

    Args:
        y_pred: tensor or array of shape `(..., len(names)*units)`, the last
            axis statically known.
        parameters: the head's layout, `HeadParameter`s (or their names) in
            output order.
        head: the name of the head that outputs this layout.

    Returns:
        A tuple of `len(parameters)` tensors of shape `(..., units)`.

    Raises:
        ValueError: when the last axis is unknown, not a multiple of
            `len(names)`, or the input is a scalar.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.parameters import split_parameters
    >>> loc, scale = split_parameters(
    ...     np.array([[1.0, 2.0, 0.5, 0.25]], dtype="float32"),
    ...     ("loc", "scale"), "NormalHead")
    >>> loc.numpy(), scale.numpy()
    (array([[1., 2.]], dtype=float32), array([[0.5 , 0.25]], dtype=float32))
    """
    names = [getattr(parameter, "name", parameter) for parameter in parameters]
    y_pred = computation_tensor(y_pred, "y_pred")
    shape = tuple(y_pred.shape)
    count = len(names)
    if not shape or shape[-1] is None or shape[-1] % count or shape[-1] == 0:
        raise ValueError(
            "`y_pred` must have a statically known last axis that is a "
            f"non-zero multiple of {count} ({', then '.join(names)}, `units` "
            f"each), as output by `{head}`. Received: y_pred.shape={shape}"
        )
    units = shape[-1] // count
    return tuple(y_pred[..., k * units : (k + 1) * units] for k in range(count))


def computation_tensor(values, name):
    """`values` as a tensor of the dtype the distributions compute in.

    float32 and float64 stay; float16 and bfloat16 (a mixed-precision head's
    output) become float32, as Keras losses compute in float32, because
    their 3 or 2 significant digits cannot hold a likelihood (nor has every
    backend a bfloat16 `lgamma`); integers and booleans become `floatx()`.
    """
    tensor = keras.ops.convert_to_tensor(values)
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if dtype in ("float16", "bfloat16"):
        return keras.ops.cast(tensor, "float32")
    if dtype.startswith(("int", "uint", "bool")):
        return keras.ops.cast(tensor, keras.config.floatx())
    if not keras.backend.is_float_dtype(dtype):
        raise TypeError(
            f"`{name}` must hold real numbers. Received: {name}.dtype={dtype}"
        )
    return tensor


def align_targets(y_true, parameter):
    """`y_true` in the dtype of `parameter`, shaped `(..., units)` like it.

    Targets of shape `(...)` get the unit axis when `units == 1`, as Keras'
    `(batch,)` targets for a `(batch, 1)` output.

    Args:
        y_true: targets, `(..., units)` or `(...)`.
        parameter: one parameter tensor of the head's output, `(..., units)`.

    Returns:
        `y_true` as a tensor of shape `(..., units)` and the dtype of
        `parameter`.

    Raises:
        ValueError: when the known sizes do not match. Where sizes are only
            known at run time (a TensorFlow graph), the same check runs
            then: an `InvalidArgumentError` with the same message, or, under
            XLA, which drops run-time checks, NaN targets.

    Example:

    >>> import numpy as np
    >>> from keras_softplus.ops.parameters import align_targets
    >>> align_targets(np.array([1.0, 2.0]), np.zeros((2, 1), "float32")).shape
    TensorShape([2, 1])
    """
    y_true = keras.ops.cast(keras.ops.convert_to_tensor(y_true), parameter.dtype)
    units = parameter.shape[-1]
    shape, like_shape = static_shape(y_true), tuple(parameter.shape)
    if shape is not None and len(shape) == len(like_shape) - 1 and units == 1:
        y_true = keras.ops.expand_dims(y_true, -1)
        shape = shape + (1,)
    message = (
        "`y_true` must have shape `(..., units)` for a head output with "
        "`units` per parameter. Received: y_true.shape="
    )
    same_rank = shape is not None and len(shape) == len(like_shape)
    if shape is not None and (
        not same_rank
        or any(
            None not in (size, like) and size != like
            for size, like in zip(shape, like_shape, strict=True)
        )
    ):
        raise ValueError(f"{message}{shape}, units={units}")
    if same_rank and None not in shape + like_shape:
        return y_true
    # Some sizes are unknown until run time (a TensorFlow graph fed by a
    # generator): the same check then runs on the run-time shapes.
    return shaped_at_run_time(y_true, parameter, message, f", units={units}")


def mean_over_units(values):
    """The mean of `values` over the last (unit) axis, in their dtype.

    A sum divided by the static number of units: Keras' `mean` on PyTorch
    accumulates float64 in float32 (3e-8 off).
    """
    return keras.ops.sum(values, axis=-1) / values.shape[-1]
