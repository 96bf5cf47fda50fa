"""Tests of `keras_softplus.layers.BetaSoftplus`."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from fresh_process import run_python
from input_grids import seeded_normal
from layer_contract import check_layer_contract

import keras_softplus
from keras_softplus import ops
from keras_softplus.layers import BetaSoftplus


def random_inputs(shape, seed=0, scale=3.0):
    return seeded_normal(shape, seed, scale)


@pytest.mark.parametrize("beta", [0.05, 0.3, 1.0, 7.0, 50.0, 1e3])
def test_beta_starts_at_the_requested_value_and_output_matches_the_op(beta):
    layer = BetaSoftplus(beta=beta)
    x = random_inputs((4, 5))
    y = layer(x)
    np.testing.assert_allclose(float(layer.beta), beta, rtol=3e-7)
    np.testing.assert_allclose(y.numpy(), ops.softplus(x, layer.beta).numpy(), rtol=0)
    assert layer.beta.shape == ()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"beta": -1}, ValueError, "`beta` must be > 0.*Received: beta=-1"),
        ({"beta": 0.0}, ValueError, "`beta` must be > 0"),
        ({"beta": 1e-8}, ValueError, "above the floor"),
        ({"beta": float("nan")}, ValueError, "`beta` must be finite"),
        ({"beta": float("inf")}, ValueError, "`beta` must be finite"),
        ({"beta": 1e39}, ValueError, "`beta` overflows float32.*Received: beta=1e"),
        (
            {"beta": 1e5, "dtype": "float16"},
            ValueError,
            "`beta` overflows float16",
        ),
        ({"beta": "2"}, TypeError, "`beta` must be a real number. Received: beta='2'"),
        ({"beta": [1, 2]}, TypeError, r"Received: beta=\[1, 2\]"),
        ({"beta": None}, TypeError, "Received: beta=None"),
        ({"shared_axes": [0]}, ValueError, "`shared_axes` must hold positive axes"),
        (
            {"shared_axes": "x"},
            TypeError,
            "`shared_axes` must be None, an int or a list of ints. "
            "Received: shared_axes='x'",
        ),
        (
            {"shared_axes": [1, "2"]},
            TypeError,
            r"`shared_axes` must be None, .*Received: shared_axes=\[1, '2'\]",
        ),
        ({"shared_axes": [1.5]}, TypeError, "Received: shared_axes=\\[1.5\\]"),
        ({"shared_axes": True}, TypeError, "Received: shared_axes=True"),
    ],
    ids=[
        "negative",
        "zero",
        "below_floor",
        "nan",
        "inf",
        "overflows_float32",
        "overflows_float16",
        "string",
        "list",
        "none",
        "batch_axis_shared",
        "string_axes",
        "string_axis_in_list",
        "fractional_axis",
        "boolean_axes",
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        BetaSoftplus(**kwargs)


@pytest.mark.parametrize(
    "init_kwargs",
    [{"beta": 2.0}, {"beta": 0.5, "learn_beta": True, "shared_axes": [1]}],
    ids=["scalar_beta", "per_feature_beta"],
)
def test_layer_contract(init_kwargs, tmp_path):
    check_layer_contract(BetaSoftplus, init_kwargs, (4, 3), tmp_path)


def test_fixed_beta_forms_no_beta_gradient_and_matches_the_learned_forward():
    x = tf.constant(random_inputs((8, 3)))
    fixed, learned = BetaSoftplus(beta=2.0, learn_beta=False), BetaSoftplus(beta=2.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        fixed_out, learned_out = fixed(x), learned(x)
    np.testing.assert_array_equal(fixed_out.numpy(), learned_out.numpy())
    assert tape.gradient(fixed_out, fixed.raw_beta) is None
    assert tape.gradient(learned_out, learned.raw_beta) is not None
    np.testing.assert_array_equal(
        tape.gradient(fixed_out, x).numpy(), tape.gradient(learned_out, x).numpy()
    )


def test_shared_axes_out_of_range_is_rejected_at_build():
    with pytest.raises(ValueError, match="out of range"):
        BetaSoftplus(shared_axes=[3])(np.zeros((2, 4), "float32"))


def test_beta_before_build_raises_a_clear_error():
    with pytest.raises(ValueError, match="not built"):
        _ = BetaSoftplus().beta


@pytest.mark.parametrize(
    "input_shape, shared_axes, beta_shape",
    [
        ((2, 4, 4, 3), None, ()),
        ((2, 4, 4, 3), [1, 2], (1, 1, 3)),
        ((2, 4, 4, 3), 1, (1, 4, 3)),
        ((2, 5), [], (5,)),
        ((2, 5), [1], (1,)),
    ],
    ids=["scalar", "per_channel", "int_axis", "per_element", "all_shared"],
)
def test_shared_axes_give_prelu_like_beta_shapes(input_shape, shared_axes, beta_shape):
    layer = BetaSoftplus(beta=2.0, shared_axes=shared_axes)
    x = random_inputs(input_shape)
    with tf.GradientTape() as tape:
        y = layer(x)
        loss = tf.reduce_sum(y)
    grad = tape.gradient(loss, layer.raw_beta)
    assert layer.beta.shape == beta_shape
    assert grad.shape == beta_shape
    np.testing.assert_allclose(layer.beta.numpy(), np.full(beta_shape, 2.0), rtol=3e-7)


def test_per_channel_betas_learn_separately():
    x = seeded_normal((512, 2), seed=1, scale=2.0)
    targets = np.stack(
        [ops.softplus(x[:, 0], 4.0).numpy(), ops.softplus(x[:, 1], 0.5).numpy()], axis=1
    )
    layer = BetaSoftplus(beta=1.0, shared_axes=[])
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    model.fit(x, targets, epochs=150, batch_size=128, verbose=0)
    np.testing.assert_allclose(layer.beta.numpy(), [4.0, 0.5], rtol=0.05)


def test_learn_beta_false_keeps_beta_fixed_and_untrainable():
    layer = BetaSoftplus(beta=3.0, learn_beta=False)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), layer])
    model.compile("adam", "mse")
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1
    model.fit(random_inputs((64, 3)), random_inputs((64, 3)), epochs=2, verbose=0)
    np.testing.assert_allclose(float(layer.beta), 3.0, rtol=3e-7)


@pytest.mark.parametrize("direction", [-1.0, 1.0], ids=["push_down", "push_up"])
def test_huge_learning_rate_cannot_make_beta_non_positive_or_nan(direction):
    layer = BetaSoftplus(beta=1.0)
    x = tf.constant(random_inputs((256, 4)))
    layer(x)
    optimizer = keras.optimizers.SGD(learning_rate=1e6)
    for _ in range(20):
        with tf.GradientTape() as tape:
            loss = direction * tf.reduce_mean(layer(x))
        optimizer.apply_gradients(
            [(tape.gradient(loss, layer.raw_beta), layer.raw_beta)]
        )
        beta = float(layer.beta)
        assert np.isfinite(beta) and beta > 0
        assert np.all(np.isfinite(layer(x).numpy()))
    if direction < 0:
        assert beta == pytest.approx(np.finfo("float32").eps, rel=1e-6)


def test_beta_regularizer_acts_on_positive_beta():
    layer = BetaSoftplus(beta=2.0, beta_regularizer=keras.regularizers.L2(0.5))
    layer(random_inputs((2, 3)))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * 4.0, rtol=1e-6)
    frozen = BetaSoftplus(beta=2.0, learn_beta=False, beta_regularizer="l2")
    frozen(random_inputs((2, 3)))
    assert frozen.losses == []


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_weights(policy):
    layer = BetaSoftplus(beta=2.0, dtype=policy)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, dtype=policy),
            layer,
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    x, y = random_inputs((128, 4)), random_inputs((128, 1), seed=1)
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert layer.raw_beta.dtype == "float32"
    assert layer.compute_dtype == policy.split("_")[1]
    assert layer(tf.cast(x, layer.compute_dtype)).dtype == layer.compute_dtype
    assert np.all(np.isfinite(history.history["loss"]))
    assert float(layer.beta) != pytest.approx(2.0, rel=1e-6)


def test_mask_passes_through():
    x = np.array([[[1.0], [0.0], [2.0]], [[0.0], [0.0], [3.0]]], "float32")
    inputs = keras.Input((3, 1))
    masked = keras.layers.Masking(mask_value=0.0)(inputs)
    activated = BetaSoftplus(beta=1.0)(masked)
    pooled = keras.layers.GlobalAveragePooling1D()(activated)
    model = keras.Model(inputs, pooled)
    expected = [
        np.mean(ops.softplus(np.array([1.0, 2.0], "float32")).numpy()),
        ops.softplus(np.float32(3.0)).numpy(),
    ]
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], expected, rtol=1e-6)
    layer = BetaSoftplus()
    mask = np.array([[True, False, True]])
    np.testing.assert_array_equal(layer.compute_mask(x[:1], mask), mask)


def test_compute_output_shape_and_symbolic_call():
    layer = BetaSoftplus(shared_axes=[1])
    assert layer.compute_output_shape((None, 7, 3)) == (None, 7, 3)
    assert layer(keras.Input((7, 3))).shape == (None, 7, 3)


def test_get_config_round_trip():
    layer = BetaSoftplus(
        beta=0.7,
        learn_beta=False,
        shared_axes=[1, 2],
        beta_regularizer=keras.regularizers.L2(0.1),
        name="act",
    )
    config = layer.get_config()
    assert config["beta"] == 0.7 and config["shared_axes"] == [1, 2]
    clone = BetaSoftplus.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.beta_regularizer, keras.regularizers.L2)
    assert (
        keras.saving.get_registered_name(BetaSoftplus) == "keras_softplus>BetaSoftplus"
    )


def sequential_model():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(16),
            BetaSoftplus(),
            keras.layers.Dense(1),
        ]
    )


def functional_model():
    inputs = keras.Input((3,))
    hidden = BetaSoftplus(shared_axes=[])(keras.layers.Dense(16)(inputs))
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


class SubclassedModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(16)
        self.activation = BetaSoftplus(beta=2.0)
        self.out = keras.layers.Dense(1)

    def call(self, inputs):
        return self.out(self.activation(self.hidden(inputs)))


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize(
    "build_model",
    [sequential_model, functional_model, SubclassedModel],
    ids=["sequential", "functional", "subclassed"],
)
def test_trains_in_every_model_style(build_model, jit_compile):
    keras.utils.set_random_seed(0)
    x = random_inputs((256, 3))
    y = np.sum(np.abs(x), axis=1, keepdims=True)
    model = build_model()
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=jit_compile)
    history = model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    layer = next(
        layer
        for layer in model.layers
        if isinstance(layer, BetaSoftplus) or hasattr(layer, "raw_beta")
    )
    assert np.all(layer.beta.numpy() != 1.0)


def test_recovers_beta_of_the_generating_softplus():
    keras.utils.set_random_seed(0)
    x = np.linspace(-3, 3, 2048, dtype="float32")[:, None]
    y = ops.softplus(x, 4.0).numpy()
    layer = BetaSoftplus(beta=1.0)
    model = keras.Sequential([keras.Input((1,)), layer])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    model.fit(x, y, epochs=60, batch_size=128, verbose=0)
    assert float(layer.beta) == pytest.approx(4.0, rel=0.05)


def trained_model(tmp_path):
    keras.utils.set_random_seed(0)
    x = random_inputs((128, 3))
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(8),
            BetaSoftplus(beta=1.5, shared_axes=[], beta_regularizer="l2", name="act"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, np.abs(x[:, :1]), epochs=5, verbose=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    np.save(tmp_path / "beta.npy", model.get_layer("act").beta.numpy())
    return model, x


@pytest.mark.parametrize("safe_mode", [True, False], ids=["safe", "unsafe"])
def test_keras_file_loads_in_a_fresh_process(tmp_path, safe_mode):
    model, _ = trained_model(tmp_path)
    model.save(tmp_path / "model.keras")
    run_python(
        f"""
        import numpy as np, keras, keras_softplus
        d = {str(tmp_path)!r}
        model = keras.saving.load_model(d + "/model.keras", safe_mode={safe_mode})
        x = np.load(d + "/x.npy")
        expected, beta = np.load(d + "/expected.npy"), np.load(d + "/beta.npy")
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
        np.testing.assert_array_equal(model.get_layer("act").beta.numpy(), beta)
        assert type(model.get_layer("act")) is keras_softplus.BetaSoftplus
        """
    )


def test_exported_saved_model_serves_without_the_package(tmp_path):
    model, _ = trained_model(tmp_path)
    model.export(str(tmp_path / "exported"), verbose=False)
    run_python(
        f"""
        import sys
        import numpy as np, tensorflow as tf
        d = {str(tmp_path)!r}
        served = tf.saved_model.load(d + "/exported")
        out = served.serve(tf.constant(np.load(d + "/x.npy")))
        np.testing.assert_allclose(out.numpy(), np.load(d + "/expected.npy"), rtol=1e-6)
        assert not any(name.startswith("keras_softplus") for name in sys.modules)
        """
    )


def test_top_level_exports():
    assert keras_softplus.BetaSoftplus is BetaSoftplus
    assert isinstance(keras_softplus.__version__, str)
