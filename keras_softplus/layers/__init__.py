"""Keras layers built on the softplus family."""

from keras_softplus.layers.beta_softplus import BetaSoftplus

__all__ = ["BetaSoftplus"]
