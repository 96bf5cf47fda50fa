"""Keras layers built on the softplus family."""

from keras_softplus.layers.beta_softplus import BetaSoftplus
from keras_softplus.layers.heads import NormalHead
from keras_softplus.layers.heads import PositiveHead
from keras_softplus.layers.positive_dense import PositiveDense

__all__ = ["BetaSoftplus", "NormalHead", "PositiveDense", "PositiveHead"]
