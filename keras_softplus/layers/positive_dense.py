"""`PositiveDense`: a Dense layer whose kernel is positive by reparameterisation."""

import keras

from keras_softplus._registration import register_public
from keras_softplus.layers.dense_options import serialize_dense_options
from keras_softplus.ops._validation import positive_integer
from keras_softplus.positivity import PositiveSpaceInitializer
from keras_softplus.positivity import PositiveSpaceRegularizer
from keras_softplus.positivity import SoftplusPositive


def _get_positive(positive):
    if positive is None:
        return SoftplusPositive()
    if isinstance(positive, dict):
        positive = keras.saving.deserialize_keras_object(positive)
    if not isinstance(positive, SoftplusPositive):
        raise TypeError(
            "`positive` must be a `keras_softplus.positivity.SoftplusPositive`. "
            f"Received: positive={positive!r}"
        )
    return positive


@register_public
class PositiveDense(keras.layers.Layer):
    """Dense layer whose kernel is positive at all times, by reparameterisation.

    The kernel is stored raw (`layer.raw_kernel`, unconstrained) and used as
    `positive(raw_kernel)`, so no optimizer step, however large, can make an
    effective weight smaller than `positive.min_value`, NaN or infinite (for a
    finite raw weight). With monotone activations (`"tanh"`, `"sigmoid"`,
    `"relu"`, softplus, ...) a stack of `PositiveDense` layers is a monotone
    (non-decreasing) network; with convex, non-decreasing activations it is
    the positive part of an input-convex network.

    Formula:
    ```
    kernel  = positive(raw_kernel) = min_value + softplus(raw_kernel, beta)
    outputs = activation(inputs @ kernel + bias)
    ```
    `kernel >= min_value` everywhere (`> min_value` mathematically; equal only
    where softplus underflows).

    The initializer is given in positive space: the effective kernel starts
    at the initializer's sample, `kernel = kernel_initializer(shape)`, and
    the raw kernel at `positive.inverse(kernel)`. Every sample must be
    `> min_value` (`min_value` itself would need a raw weight of `-inf`);
    otherwise `build` raises a `ValueError`, so Keras' zero-mean initializers
    (`"glorot_uniform"`, ...) are rejected. The default,
    `kernel_initializer=None`, samples the kernel uniformly from
    `min_value + [0.5, 1.5] / fan_in`, so that each unit starts near the
    average of its inputs and the scale of the activations is kept through a
    deep monotone stack.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: activation function, as for `keras.layers.Dense`;
            `None` means linear.
        use_bias: whether the layer uses a bias vector (unconstrained).
        kernel_initializer: initializer of the effective kernel, in positive
            space: its samples must be `> min_value` (see above). `None`
            (default) for `min_value + [0.5, 1.5] / fan_in`, uniform.
        bias_initializer: initializer for the bias vector.
        kernel_regularizer: regularizer applied to the effective (positive)
            kernel, not to the raw weight.
        bias_regularizer: regularizer for the bias vector.
        activity_regularizer: regularizer for the outputs.
        bias_constraint: constraint for the bias vector. (A
            `kernel_constraint` is not accepted: `positive` replaces it.)
        positive: the `SoftplusPositive` mapping of the kernel; `None`
            (default) for `SoftplusPositive()`, a kernel in `(0, inf)`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> import keras_softplus
    >>> layer = keras_softplus.layers.PositiveDense(
    ...     2,
    ...     kernel_initializer=keras.initializers.Constant(0.5),
    ...     positive=keras_softplus.SoftplusPositive(min_value=0.1),
    ... )
    >>> layer(np.array([[1.0, 2.0]])).numpy()
    array([[1.5, 1.5]], dtype=float32)
    >>> layer.positive_kernel.numpy()
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)

    Reference:
    - [Sill, 1997](https://proceedings.neurips.cc/paper/1997/hash/83adc9225e4deb67d7ce42d58fe5157c-Abstract.html),
      monotonic networks.
    - [Amos et al., 2017](https://arxiv.org/abs/1609.07152), input-convex
      neural networks.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        bias_constraint=None,
        positive=None,
        **kwargs,
    ):
        if kwargs.get("kernel_constraint") is not None:
            raise ValueError(
                "`PositiveDense` does not take a `kernel_constraint`: its "
                "kernel is kept positive by the `positive=` reparameterisation "
                "(e.g. `positive=SoftplusPositive(min_value=0.1)`). Received: "
                f"kernel_constraint={kwargs['kernel_constraint']!r}"
            )
        kwargs.pop("kernel_constraint", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = positive_integer(units, "units")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = (
            None
            if kernel_initializer is None
            else keras.initializers.get(kernel_initializer)
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.positive = _get_positive(positive)
        self.positive.check_dtype(self.variable_dtype)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "The last axis of the inputs of `PositiveDense` must be known. "
                f"Received: input_shape={input_shape}"
            )
        if self.kernel_initializer is None:
            initializer = keras.initializers.RandomUniform(
                minval=self.positive.min_value + 0.5 / input_dim,
                maxval=self.positive.min_value + 1.5 / input_dim,
            )
        else:
            initializer = self.kernel_initializer
        self.raw_kernel = self.add_weight(
            name="raw_kernel",
            shape=(input_dim, self.units),
            initializer=PositiveSpaceInitializer(
                initializer, self.positive, "kernel_initializer"
            ),
            regularizer=(
                None
                if self.kernel_regularizer is None
                else PositiveSpaceRegularizer(self.kernel_regularizer, self.positive)
            ),
            autocast=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    @property
    def positive_kernel(self):
        """The effective kernel `positive(raw_kernel)`, in the weight's dtype."""
        if not self.built:
            raise ValueError(
                f"Layer {self.name} is not built yet; `positive_kernel` exists "
                "once it has been called on an input."
            )
        return self.positive(keras.ops.convert_to_tensor(self.raw_kernel))

    def call(self, inputs):
        kernel = keras.ops.cast(self.positive_kernel, self.compute_dtype)
        outputs = keras.ops.matmul(inputs, kernel)
        if self.bias is not None:
            outputs = keras.ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                **serialize_dense_options(
                    self,
                    (
                        "kernel_initializer",
                        "bias_initializer",
                        "kernel_regularizer",
                        "bias_regularizer",
                        "bias_constraint",
                    ),
                ),
                "positive": keras.saving.serialize_keras_object(self.positive),
            }
        )
        return config
