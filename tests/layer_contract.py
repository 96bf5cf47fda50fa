"""The contract every layer of the package keeps, checked the same way.

In the spirit of Keras' `run_layer_test`: `check_layer_contract` builds the
layer from keyword arguments and checks, in order, the config round trip,
the output shape against `compute_output_shape` (eager and symbolic),
masking, one training step, mixed precision, the `.keras` round trip with
`safe_mode=True`, and `model.export()` served by `tf.saved_model.load`.
"""

import keras
import numpy as np
import tensorflow as tf


def _inputs(input_shape, seed):
    return np.random.default_rng(seed).normal(size=input_shape).astype("float32")


def _model(layer_class, init_kwargs, input_shape, dtype=None):
    kwargs = dict(init_kwargs) if dtype is None else dict(init_kwargs, dtype=dtype)
    layer = layer_class(**kwargs)
    inputs = keras.Input(input_shape[1:])
    return keras.Model(inputs, layer(inputs)), layer


def check_config_round_trip(layer_class, init_kwargs):
    layer = layer_class(**init_kwargs)
    config = layer.get_config()
    restored = layer_class.from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_softplus>{layer_class.__name__}"
    assert type(keras.saving.deserialize_keras_object(serialized)) is layer_class


def check_output_shape(layer_class, init_kwargs, input_shape):
    layer = layer_class(**init_kwargs)
    x = _inputs(input_shape, seed=0)
    outputs = layer(x)
    assert tuple(outputs.shape) == tuple(layer.compute_output_shape(input_shape))
    symbolic = layer_class(**init_kwargs)(keras.Input(input_shape[1:]))
    expected = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    assert tuple(symbolic.shape) == tuple(expected)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))


def check_masking(layer_class, init_kwargs, input_shape):
    """A mask on the time axis of `(batch, time, features)` inputs passes."""
    layer = layer_class(**init_kwargs)
    assert layer.supports_masking
    x = _inputs(input_shape, seed=1)
    mask = np.ones(input_shape[:2], bool)
    mask[:, -1] = False
    np.testing.assert_array_equal(layer.compute_mask(x, mask), mask)


def check_training_step(layer_class, init_kwargs, input_shape, loss, targets):
    model, layer = _model(layer_class, init_kwargs, input_shape)
    x = _inputs(input_shape, seed=2)
    y = targets(input_shape[0]) if targets else np.abs(layer(x).numpy()) + 0.5
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    before = [w.numpy().copy() for w in layer.trainable_weights]
    assert before, "the layer has no trainable weights"
    history = model.fit(x, y, batch_size=input_shape[0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [w.numpy() for w in layer.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def check_mixed_precision(layer_class, init_kwargs, input_shape, policy):
    model, layer = _model(layer_class, init_kwargs, input_shape, dtype=policy)
    compute_dtype = policy.split("_")[1]
    outputs = layer(tf.cast(_inputs(input_shape, seed=4), compute_dtype))
    assert outputs.dtype == compute_dtype
    assert all(w.dtype == "float32" for w in layer.weights)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))


def check_keras_file_round_trip(layer_class, init_kwargs, input_shape, directory):
    model, _ = _model(layer_class, init_kwargs, input_shape)
    x = _inputs(input_shape, seed=5)
    path = f"{directory}/{layer_class.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.layers[-1]) is layer_class
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def check_export(layer_class, init_kwargs, input_shape, directory):
    model, _ = _model(layer_class, init_kwargs, input_shape)
    x = _inputs(input_shape, seed=6)
    path = f"{directory}/{layer_class.__name__}_export"
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)  # kept: `serve` needs its variables
    served = reloaded.serve(tf.constant(x))
    np.testing.assert_allclose(
        served.numpy(), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )


def check_layer_contract(
    layer_class,
    init_kwargs,
    input_shape,
    directory,
    loss="mse",
    targets=None,
    sequence_shape=(2, 3, 4),
    policies=("mixed_float16", "mixed_bfloat16"),
):
    """Runs every check above on `layer_class(**init_kwargs)`.

    Args:
        layer_class: the layer class.
        init_kwargs: its keyword arguments.
        input_shape: a concrete input shape with the batch axis.
        directory: a temporary folder for saved files.
        loss: the training loss.
        targets: `targets(batch_size)` gives training targets for `loss`;
            `None` for positive targets of the layer's output shape.
        sequence_shape: `(batch, time, features)` inputs for the masking
            check.
        policies: the mixed precision policies to check.
    """
    check_config_round_trip(layer_class, init_kwargs)
    check_output_shape(layer_class, init_kwargs, input_shape)
    check_masking(layer_class, init_kwargs, sequence_shape)
    check_training_step(layer_class, init_kwargs, input_shape, loss, targets)
    for policy in policies:
        check_mixed_precision(layer_class, init_kwargs, input_shape, policy)
    check_keras_file_round_trip(layer_class, init_kwargs, input_shape, directory)
    check_export(layer_class, init_kwargs, input_shape, directory)
