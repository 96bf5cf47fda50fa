"""The one decorator that registers every public class for Keras saving."""

import keras

PACKAGE = "keras_softplus"

register_public = keras.saving.register_keras_serializable(package=PACKAGE)
"""Class decorator: registers as `keras_softplus>ClassName`.

Models saved with these objects load after `import keras_softplus`,
`safe_mode=True` included; the registered names are part of the public API.
"""
