"""Keras layers built on the softplus family."""

from keras_softplus.layers.beta_softplus import BetaSoftplus
from keras_softplus.layers.distribution_head import DistributionHead
from keras_softplus.layers.distribution_heads import GammaHead
from keras_softplus.layers.distribution_heads import NegativeBinomialHead
from keras_softplus.layers.distribution_heads import NormalHead
from keras_softplus.layers.distribution_heads import PoissonHead
from keras_softplus.layers.distribution_heads import StudentTHead
from keras_softplus.layers.positive_dense import PositiveDense
from keras_softplus.layers.positive_head import PositiveHead
from keras_softplus.ops.parameters import HeadParameter

__all__ = [
    "BetaSoftplus",
    "DistributionHead",
    "GammaHead",
    "HeadParameter",
    "NegativeBinomialHead",
    "NormalHead",
    "PoissonHead",
    "PositiveDense",
    "PositiveHead",
    "StudentTHead",
]
