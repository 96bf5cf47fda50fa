"""keras_softplus: softplus done right for Keras 3 on TensorFlow.

A trainable beta-softplus activation with an exact fused gradient, positive
weights and outputs by reparameterisation, and Normal regression heads that
plug into TensorFlow Probability.
"""

__version__ = "0.1.0"

from keras_softplus import layers
from keras_softplus import ops
from keras_softplus.layers import BetaSoftplus

__all__ = ["BetaSoftplus", "layers", "ops", "__version__"]
