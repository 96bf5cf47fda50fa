"""`BetaSoftplus`: softplus activation with a learned, positive sharpness."""

import keras
import numpy as np

from keras_softplus import ops
from keras_softplus._registration import register_public
from keras_softplus.ops._validation import positive_number
from keras_softplus.ops._validation import representable
from keras_softplus.positivity import PositiveSpaceRegularizer
from keras_softplus.positivity import SoftplusPositive
from keras_softplus.positivity import positive_floor


def axes_argument(shared_axes):
    """`shared_axes` as None or a list of ints; TypeError for anything else
    (strings, floats, booleans)."""
    if shared_axes is None:
        return None
    axes = (
        list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
    )
    if not all(
        isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
        for axis in axes
    ):
        raise TypeError(
            "`shared_axes` must be None, an int or a list of ints. "
            f"Received: shared_axes={shared_axes!r}"
        )
    return [int(axis) for axis in axes]


@register_public
class BetaSoftplus(keras.layers.Layer):
    """Softplus activation whose sharpness `beta` is learned.

    Formula:
    ```
    f(x) = log(1 + exp(beta * x)) / beta
    beta = softplus(raw_beta) + eps      (eps of the weight's dtype)
    ```
    `beta -> 0` approaches the line `x/2 + log(2)/beta`, and `beta -> inf`
    approaches ReLU. `beta` stays strictly positive by reparameterisation
    (`keras_softplus.positivity`): the stored weight `raw_beta` is
    unconstrained, so no optimizer step can make `beta` zero, negative or
    NaN. `raw_beta` starts at `softplus_inverse(beta - eps)`, so that
    `layer.beta` equals the requested `beta` to float32 rounding.

    Args:
        beta: initial beta, a finite number > eps of the weight's dtype that
            does not overflow it.
        learn_beta: whether beta is trainable. If False, beta stays fixed
            and the backward pass never forms its gradient.
        shared_axes: `None` (default) shares one beta across every element.
            Otherwise, as in `keras.layers.PReLU`: the axes to share beta
            along; every other axis (except the batch axis) gets its own
            beta. For `(batch, height, width, channels)` inputs,
            `shared_axes=[1, 2]` learns one beta per channel; `[]` learns one
            per element.
        beta_regularizer: regularizer applied to the positive `beta` (not to
            the raw weight), added to the layer's losses when beta is learned.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> layer = keras_softplus.layers.BetaSoftplus(beta=2.0)
    >>> layer(np.array([[-1.0, 0.0, 2.0]])).numpy()
    array([[0.0634..., 0.3465..., 2.0090...]], dtype=float32)
    >>> float(layer.beta)
    2.0

    Reference:
    - [Dugas et al., 2001](https://proceedings.neurips.cc/paper/2000/hash/44968aece94f667e4095002d140b5896-Abstract.html)
    """

    def __init__(
        self,
        beta=1.0,
        learn_beta=True,
        shared_axes=None,
        beta_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        floor = positive_floor(self.variable_dtype)
        beta_value = positive_number(
            beta,
            "beta",
            floor,
            f" (and above the floor {floor:g} of {self.variable_dtype})",
        )
        representable(beta_value, "beta", self.variable_dtype)
        self.initial_beta = beta_value
        self.learn_beta = bool(learn_beta)
        self.shared_axes = axes_argument(shared_axes)
        if self.shared_axes is not None and any(a < 1 for a in self.shared_axes):
            raise ValueError(
                "`shared_axes` must hold positive axes (axis 0 is the batch). "
                f"Received: shared_axes={shared_axes}"
            )
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.positive = SoftplusPositive(min_value=floor)
        # Computed here, eagerly: `build` may run inside a traced function.
        self._initial_raw_beta = self.positive.inverse_value(beta_value)

    def build(self, input_shape):
        if self.shared_axes is None:
            param_shape = ()
        else:
            if max(self.shared_axes, default=0) >= len(input_shape):
                raise ValueError(
                    f"`shared_axes` {self.shared_axes} out of range for inputs "
                    f"of rank {len(input_shape)}."
                )
            param_shape = list(input_shape[1:])
            for axis in self.shared_axes:
                param_shape[axis - 1] = 1
            if None in param_shape:
                raise ValueError(
                    "Axes that are not shared need a known size. Received: "
                    f"input_shape={input_shape}, shared_axes={self.shared_axes}"
                )
            axes = {
                axis: input_shape[axis]
                for axis in range(1, len(input_shape))
                if axis not in self.shared_axes
            }
            self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes=axes)
        self.raw_beta = self.add_weight(
            shape=param_shape,
            name="raw_beta",
            initializer=keras.initializers.Constant(self._initial_raw_beta),
            regularizer=(
                None
                if self.beta_regularizer is None
                else PositiveSpaceRegularizer(self.beta_regularizer, self.positive)
            ),
            trainable=self.learn_beta,
            autocast=False,
        )

    @property
    def beta(self):
        """The current positive beta, a tensor of the weight's shape."""
        if not self.built:
            raise ValueError(
                f"Layer {self.name} is not built yet; `beta` exists once it "
                "has been called on an input."
            )
        return self.positive(self.raw_beta)

    def call(self, inputs):
        # beta > 0 by construction, so its value is not checked (the check
        # would copy beta to the host at every call on eager backends).
        return ops.softplus(
            inputs,
            self.beta,
            validate_beta=False,
            beta_gradient=self.learn_beta,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta": self.initial_beta,
                "learn_beta": self.learn_beta,
                "shared_axes": self.shared_axes,
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
            }
        )
        return config
