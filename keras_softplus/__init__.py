"""keras_softplus: softplus done right for Keras 3 on TensorFlow.

A trainable beta-softplus activation with an exact fused gradient, positive
weights and outputs by reparameterisation, and Normal regression heads that
plug into TensorFlow Probability.
"""

__version__ = "0.2.0"

from keras_softplus import activations
from keras_softplus import constraints
from keras_softplus import distributions
from keras_softplus import layers
from keras_softplus import losses
from keras_softplus import metrics
from keras_softplus import ops
from keras_softplus import positivity
from keras_softplus.layers import BetaSoftplus
from keras_softplus.layers import NormalHead
from keras_softplus.layers import PositiveDense
from keras_softplus.layers import PositiveHead
from keras_softplus.losses import NormalNLL
from keras_softplus.positivity import SoftplusPositive

__all__ = [
    "BetaSoftplus",
    "NormalHead",
    "NormalNLL",
    "PositiveDense",
    "PositiveHead",
    "SoftplusPositive",
    "activations",
    "constraints",
    "distributions",
    "layers",
    "losses",
    "metrics",
    "ops",
    "positivity",
    "__version__",
]
