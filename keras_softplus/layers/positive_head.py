"""`PositiveHead`: a dense head with outputs above a floor (scale, rate)."""

import keras
import numpy as np

from keras_softplus._registration import register_public
from keras_softplus.layers.beta_softplus import BetaSoftplus
from keras_softplus.layers.dense_options import serialize_dense_options
from keras_softplus.ops._validation import positive_integer
from keras_softplus.ops._validation import real_number
from keras_softplus.ops._validation import representable
from keras_softplus.positivity import SoftplusPositive


def check_initial_value(positive, initial_value, name, dtype_policy):
    """ValueError naming `name` unless `initial_value`, and the output at
    initialisation that it sets, are finite in the compute dtype.

    The output is `positive` (`min_value + softplus(., beta)`) of the bias
    `positive.inverse_value(initial_value)`, stored in the variable dtype
    and read in the compute dtype, as the head computes it: a floor and an
    initial value each below the dtype's largest value may round to inf
    when added (3e4 + 35519 in float16).
    """
    compute_dtype = dtype_policy.compute_dtype
    representable(initial_value, name, compute_dtype)
    bias = keras.ops.convert_to_tensor(
        positive.inverse_value(initial_value), dtype_policy.variable_dtype
    )
    output = positive(keras.ops.cast(bias, compute_dtype))
    if not np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(output, "float32"))):
        raise ValueError(
            f"`{name}` makes the output at initialisation overflow "
            f"{compute_dtype}, the dtype it is computed in: min_value + "
            f"softplus(bias) rounds to inf. Received: {name}={initial_value!r}, "
            f"min_value={positive.min_value!r}"
        )


@register_public
class PositiveHead(keras.layers.Layer):
    """Dense head with outputs in `(min_value, inf)`: a scale, rate or variance.

    A `keras.layers.Dense` (`layer.dense`) followed by the positivity map
    `min_value + softplus(., beta)` of `keras_softplus.positivity`. With
    `learn_beta=True` the softplus is a `BetaSoftplus` sublayer
    (`layer.beta_softplus`) whose beta is learned. The bias starts at
    `softplus_inverse(initial_value - min_value, beta)`, so that the head
    outputs `initial_value` for a zero input, whatever the kernel.

    Formula:
    ```
    outputs = min_value + softplus(inputs @ kernel + bias, beta)
    bias    = softplus_inverse(initial_value - min_value, beta)  at init
    ```
    `outputs > min_value` mathematically; in floating point
    `outputs == min_value` only where the softplus underflows. Outputs are
    finite for finite inputs and weights.

    Args:
        units: positive integer, number of outputs.
        min_value: lower bound of the outputs, a finite float >= 0 that does
            not underflow to 0 in the layer's compute dtype.
        initial_value: output for a zero input at initialisation, a finite
            float > `min_value`; it, and the output it sets, must not
            overflow the compute dtype.
        beta: (initial) sharpness of the softplus, > 0.
        learn_beta: whether `beta` is trained (one scalar beta).
        kernel_initializer: initializer for the kernel of the Dense part.
        kernel_regularizer: regularizer for the kernel.
        bias_regularizer: regularizer for the bias.
        kernel_constraint: constraint for the kernel.
        bias_constraint: constraint for the bias.
        **kwargs: base layer keyword arguments, such as `name`, `dtype` and
            `activity_regularizer`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.PositiveHead(2, min_value=0.01,
    ...                                           initial_value=0.5)
    >>> head(np.zeros((1, 3))).numpy()
    array([[0.5, 0.5]], dtype=float32)
    >>> bool(np.all(head(np.random.normal(size=(4, 3)) * 100).numpy() >= 0.01))
    True

    Reference:
    - [Nix & Weigend, 1994](https://doi.org/10.1109/ICNN.1994.374138),
      a network output for the variance.
    """

    def __init__(
        self,
        units,
        min_value=1e-6,
        initial_value=1.0,
        beta=1.0,
        learn_beta=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = positive_integer(units, "units")
        self.positive = SoftplusPositive(min_value=min_value, beta=beta)
        self.positive.check_dtype(self.compute_dtype)
        self.min_value = self.positive.min_value
        self.initial_value = real_number(initial_value, "initial_value")
        if not self.initial_value > self.min_value:
            raise ValueError(
                "`initial_value` must be > `min_value`. Received: "
                f"initial_value={initial_value!r}, min_value={min_value!r}"
            )
        check_initial_value(
            self.positive, self.initial_value, "initial_value", self.dtype_policy
        )
        self.learn_beta = bool(learn_beta)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dense = keras.layers.Dense(
            self.units,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=keras.initializers.Constant(
                self.positive.inverse_value(self.initial_value)
            ),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
            name="dense",
        )
        if self.learn_beta:
            self.beta_softplus = BetaSoftplus(
                beta=self.positive.beta, dtype=self.dtype_policy, name="beta_softplus"
            )
        self.supports_masking = True

    def build(self, input_shape):
        self.dense.build(input_shape)
        if self.learn_beta:
            self.beta_softplus.build(self.dense.compute_output_shape(input_shape))

    @property
    def beta(self):
        """The current positive beta, a scalar tensor."""
        if self.learn_beta:
            return self.beta_softplus.beta
        return keras.ops.convert_to_tensor(self.positive.beta, self.variable_dtype)

    def call(self, inputs):
        logits = self.dense(inputs)
        if self.learn_beta:
            return self.beta_softplus(logits) + self.min_value
        return self.positive(logits)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "min_value": self.min_value,
            "initial_value": self.initial_value,
            "beta": self.positive.beta,
            "learn_beta": self.learn_beta,
            **serialize_dense_options(
                self,
                (
                    "kernel_initializer",
                    "kernel_regularizer",
                    "bias_regularizer",
                    "kernel_constraint",
                    "bias_constraint",
                ),
            ),
        }
