"""Output heads: `PositiveHead` (scale, rate, variance) and `NormalHead`."""

import keras
import numpy as np

from keras_softplus import ops
from keras_softplus._registration import register_public
from keras_softplus.constraints import _validated_float
from keras_softplus.layers.beta_softplus import BetaSoftplus
from keras_softplus.layers.positive_dense import _validated_units


@register_public
class PositiveHead(keras.layers.Layer):
    """Dense head with outputs in `(min_value, inf)`: a scale, rate or variance.

    A `keras.layers.Dense` followed by `min_value + softplus(., beta)`. The
    softplus is a `BetaSoftplus` sublayer (`layer.beta_softplus`), so a
    learned `beta` (`learn_beta=True`) is positive by the same
    reparameterisation, `beta = softplus(beta_raw) + eps`. The bias starts at
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
        min_value: lower bound of the outputs, a finite float >= 0.
        initial_value: output for a zero input at initialisation, a finite
            float > `min_value`.
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
        self.units = _validated_units(units)
        self.min_value = _validated_float(min_value, "min_value")
        self.initial_value = _validated_float(initial_value, "initial_value")
        if self.min_value < 0:
            raise ValueError(
                f"`min_value` must be >= 0. Received: min_value={min_value!r}"
            )
        if not self.initial_value > self.min_value:
            raise ValueError(
                "`initial_value` must be > `min_value`. Received: "
                f"initial_value={initial_value!r}, min_value={min_value!r}"
            )
        beta = _validated_float(beta, "beta")
        if beta <= 0:
            raise ValueError(f"`beta` must be > 0. Received: beta={beta!r}")
        self.learn_beta = bool(learn_beta)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        initial_bias = float(
            ops.softplus_inverse(
                np.float64(self.initial_value - self.min_value), np.float64(beta)
            )
        )
        self.dense = keras.layers.Dense(
            self.units,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=keras.initializers.Constant(initial_bias),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.beta_softplus = BetaSoftplus(
            beta=beta,
            learn_beta=self.learn_beta,
            dtype=self.dtype_policy,
            name="beta_softplus",
        )
        self.supports_masking = True

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.beta_softplus.build(self.dense.compute_output_shape(input_shape))

    @property
    def beta(self):
        """The current positive beta, a scalar tensor."""
        return self.beta_softplus.beta

    def call(self, inputs):
        return self.beta_softplus(self.dense(inputs)) + self.min_value

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "min_value": self.min_value,
                "initial_value": self.initial_value,
                "beta": self.beta_softplus.initial_beta,
                "learn_beta": self.learn_beta,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
            }
        )
        return config


@register_public
class NormalHead(keras.layers.Layer):
    """Heteroscedastic Normal head: a loc and a positive scale per unit.

    Outputs one tensor of shape `(..., 2*units)`: the loc (a linear `Dense`,
    `layer.loc_dense`) in the first `units` entries and the scale (a
    `PositiveHead`, `layer.scale_head`) in the last `units`. Split it with
    `keras_softplus.distributions.split_normal_params`, turn it into a
    TensorFlow Probability distribution with
    `keras_softplus.distributions.as_normal`, and train it with
    `keras_softplus.losses.NormalNLL`. Neither the layer nor the loss needs
    TensorFlow Probability.

    Formula:
    ```
    loc   = inputs @ kernel_loc + bias_loc
    scale = min_scale + softplus(inputs @ kernel_scale + bias_scale)
    outputs = concatenate([loc, scale], axis=-1)
    ```
    At initialisation a zero input gives `loc = 0` and
    `scale = initial_scale`. `scale > min_scale` mathematically
    (`== min_scale` only where the softplus underflows). Under a mixed
    precision policy, give the head `dtype="float32"`: a float16 scale keeps
    3 significant digits, and the default `min_scale=1e-6` is subnormal there.

    Args:
        units: positive integer, dimension of the predicted Normal.
        min_scale: lower bound of the scale, a finite float > 0 (a zero
            scale would make the likelihood infinite).
        initial_scale: scale for a zero input at initialisation, a finite
            float > `min_scale`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> import keras_softplus
    >>> head = keras_softplus.layers.NormalHead(units=2, initial_scale=0.5)
    >>> head(np.zeros((1, 3))).numpy()
    array([[0. , 0. , 0.5, 0.5]], dtype=float32)
    >>> loc, scale = keras_softplus.distributions.split_normal_params(
    ...     head(np.ones((4, 3))))
    >>> loc.shape, scale.shape
    (TensorShape([4, 2]), TensorShape([4, 2]))

    Reference:
    - [Nix & Weigend, 1994](https://doi.org/10.1109/ICNN.1994.374138)
    - [Lakshminarayanan et al., 2017](https://arxiv.org/abs/1612.01474)
    """

    def __init__(self, units=1, min_scale=1e-6, initial_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = _validated_units(units)
        self.min_scale = _validated_float(min_scale, "min_scale")
        self.initial_scale = _validated_float(initial_scale, "initial_scale")
        if self.min_scale <= 0:
            raise ValueError(
                "`min_scale` must be > 0 (a zero scale makes the likelihood "
                f"infinite). Received: min_scale={min_scale!r}"
            )
        if not self.initial_scale > self.min_scale:
            raise ValueError(
                "`initial_scale` must be > `min_scale`. Received: "
                f"initial_scale={initial_scale!r}, min_scale={min_scale!r}"
            )
        self.loc_dense = keras.layers.Dense(
            self.units, dtype=self.dtype_policy, name="loc"
        )
        self.scale_head = PositiveHead(
            self.units,
            min_value=self.min_scale,
            initial_value=self.initial_scale,
            dtype=self.dtype_policy,
            name="scale",
        )
        self.supports_masking = True

    def build(self, input_shape):
        self.loc_dense.build(input_shape)
        self.scale_head.build(input_shape)

    def call(self, inputs):
        loc = self.loc_dense(inputs)
        scale = self.scale_head(inputs)
        return keras.ops.concatenate([loc, scale], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "min_scale": self.min_scale,
                "initial_scale": self.initial_scale,
            }
        )
        return config
