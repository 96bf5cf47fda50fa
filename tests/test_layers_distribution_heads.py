"""Tests of `keras_softplus.layers.distribution_heads`."""

import keras
import numpy as np
import pytest
from fresh_process import run_python
from input_grids import seeded_normal
from layer_contract import check_layer_contract

import keras_softplus
from keras_softplus.distributions import split_normal_params
from keras_softplus.layers import GammaHead
from keras_softplus.layers import NegativeBinomialHead
from keras_softplus.layers import NormalHead
from keras_softplus.layers import PoissonHead
from keras_softplus.layers import PositiveHead
from keras_softplus.layers import StudentTHead
from keras_softplus.losses import GammaNLL
from keras_softplus.losses import NegativeBinomialNLL
from keras_softplus.losses import NormalNLL
from keras_softplus.losses import PoissonNLL
from keras_softplus.losses import StudentTNLL
from keras_softplus.ops.gamma import split_gamma_params
from keras_softplus.ops.negative_binomial import split_negative_binomial_params
from keras_softplus.ops.poisson import split_poisson_params
from keras_softplus.ops.student_t import split_student_t_params
from keras_softplus.ops.student_t import student_t_stddev


def normal_targets(batch_size):
    return seeded_normal((batch_size, 2), seed=7)


def test_layer_contract(tmp_path):
    check_layer_contract(
        NormalHead,
        {"units": 2, "initial_scale": 0.5},
        (4, 3),
        tmp_path,
        loss=NormalNLL(),
        targets=normal_targets,
    )


@pytest.mark.parametrize("units", [1, 3])
def test_normal_head_layout_and_initial_scale(units):
    head = NormalHead(units=units, min_scale=1e-3, initial_scale=0.4)
    y = head(np.zeros((2, 5), "float32")).numpy()
    assert y.shape == (2, 2 * units)
    np.testing.assert_array_equal(y[:, :units], 0.0)
    np.testing.assert_allclose(y[:, units:], 0.4, rtol=2e-6)
    x = seeded_normal((6, 5), scale=10.0)
    loc, scale = split_normal_params(head(x))
    np.testing.assert_allclose(loc.numpy(), head.loc_dense(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(scale.numpy(), head.scale_head(x).numpy(), rtol=1e-6)
    assert np.all(scale.numpy() >= np.float32(1e-3))
    assert isinstance(head.scale_head, PositiveHead)
    assert head.scale_head.min_value == 1e-3 and head.scale_head.initial_value == 0.4
    assert head.compute_output_shape((None, 7, 5)) == (None, 7, 2 * units)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"min_scale": 0.0}, ValueError, "`min_scale` must be > 0. Received: "),
        ({"min_scale": -1.0}, ValueError, "`min_scale` must be > 0. Received: "),
        ({"min_scale": 1e-50}, ValueError, "`min_scale` underflows to 0 in float32"),
        ({"min_scale": "1"}, TypeError, "`min_scale` must be a real number"),
        (
            {"min_scale": 1.0, "initial_scale": 1.0},
            ValueError,
            "`initial_scale` must be > `min_scale`",
        ),
        ({"initial_scale": float("inf")}, ValueError, "`initial_scale` must be finite"),
        ({"units": 0}, ValueError, "`units` must be a positive integer"),
        (
            {"units": float("inf")},
            ValueError,
            "`units` must be a positive integer. Received: units=inf",
        ),
        (
            {"scale_bias_initializer": "zeros"},
            ValueError,
            "`scale_bias_initializer` is not accepted",
        ),
        ({"loc_kernel_initializer": "nope"}, ValueError, "nope"),
    ],
    ids=[
        "zero_floor",
        "negative_floor",
        "floor_underflows",
        "string_floor",
        "initial_at_floor",
        "infinite_initial",
        "zero_units",
        "infinite_units",
        "positive_bias_initializer",
        "unknown_initializer",
    ],
)
def test_normal_head_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        NormalHead(**kwargs)


def test_normal_head_floor_is_checked_in_the_compute_dtype():
    NormalHead(min_scale=1e-30)  # a normal float32
    with pytest.raises(ValueError, match="underflows to 0 in float16"):
        NormalHead(min_scale=1e-30, dtype="mixed_float16")


def test_normal_head_dense_options_reach_each_part():
    head = NormalHead(
        units=2,
        initial_scale=0.5,
        loc_kernel_initializer="zeros",
        loc_bias_initializer=keras.initializers.Constant(3.0),
        loc_kernel_regularizer=keras.regularizers.L2(0.1),
        scale_kernel_initializer="zeros",
        scale_bias_regularizer="l1",
        loc_bias_constraint=keras.constraints.NonNeg(),
    )
    x = seeded_normal((5, 4), scale=3.0)
    loc, scale = split_normal_params(head(x))
    np.testing.assert_allclose(loc.numpy(), 3.0)
    np.testing.assert_allclose(scale.numpy(), 0.5, rtol=2e-6)
    assert len(head.losses) == 2
    assert isinstance(head.loc_dense.bias_constraint, keras.constraints.NonNeg)
    config = head.get_config()
    assert config["loc_kernel_regularizer"]["config"]["l2"] == pytest.approx(0.1)
    restored = NormalHead.from_config(config)
    assert restored.get_config() == config
    assert isinstance(restored.scale_head.kernel_initializer, keras.initializers.Zeros)


def test_normal_head_config_keeps_the_0_1_0_keys():
    head = NormalHead(units=2, min_scale=1e-4, initial_scale=2.0, name="normal")
    config = head.get_config()
    assert {"units", "min_scale", "initial_scale"} <= set(config)
    assert "parameters" not in config
    assert NormalHead.from_config(config).get_config() == config
    assert keras_softplus.NormalHead is NormalHead


def test_normal_head_learns_a_heteroscedastic_scale():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(512, 1)).astype("float32")
    noise = np.where(x > 0, 1.0, 0.1)
    y = (2 * x + noise * rng.normal(size=x.shape)).astype("float32")
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(16, activation="tanh"), NormalHead(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=NormalNLL())
    model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    loc, scale = split_normal_params(
        model.predict(np.array([[-0.6], [0.6]], "float32"), verbose=0)
    )
    np.testing.assert_allclose(loc.numpy().ravel(), [-1.2, 1.2], atol=0.35)
    low, high = scale.numpy().ravel()
    assert 0.05 < low < 0.3 and 0.6 < high < 1.5, (low, high)


def count_targets(batch_size):
    rng = np.random.default_rng(8)
    return rng.poisson(3.0, size=(batch_size, 2)).astype("float32")


def positive_targets(batch_size):
    return np.random.default_rng(9).gamma(2.0, size=(batch_size, 2)).astype("float32")


NEW_HEADS = {
    "student_t": (StudentTHead, {"units": 2}, StudentTNLL(), normal_targets),
    "student_t_fixed_df": (
        StudentTHead,
        {"units": 2, "df": 4.0, "min_scale": 1e-3},
        StudentTNLL(),
        normal_targets,
    ),
    "poisson": (
        PoissonHead,
        {"units": 2, "initial_rate": 3.0},
        PoissonNLL(),
        count_targets,
    ),
    "negative_binomial": (
        NegativeBinomialHead,
        {"units": 2, "initial_mean": 3.0},
        NegativeBinomialNLL(),
        count_targets,
    ),
    "gamma": (GammaHead, {"units": 2}, GammaNLL(), positive_targets),
}


@pytest.mark.parametrize("name", NEW_HEADS)
def test_new_heads_keep_the_layer_contract(name, tmp_path):
    layer_class, init_kwargs, loss, targets = NEW_HEADS[name]
    check_layer_contract(
        layer_class, init_kwargs, (4, 3), tmp_path, loss=loss, targets=targets
    )


@pytest.mark.parametrize(
    "layer_class, kwargs, expected",
    [
        (StudentTHead, {"initial_scale": 0.5, "initial_df": 7.0}, [0.0, 0.5, 7.0]),
        (StudentTHead, {"df": 2.5}, [0.0, 1.0, 2.5]),
        (PoissonHead, {"initial_rate": 4.0}, [4.0]),
        (NegativeBinomialHead, {"initial_total_count": 5.0}, [1.0, 5.0]),
        (GammaHead, {"initial_concentration": 3.0, "initial_rate": 0.25}, [3.0, 0.25]),
    ],
    ids=["student_t", "student_t_fixed_df", "poisson", "negative_binomial", "gamma"],
)
def test_new_heads_start_at_their_initial_values_with_dtype_floors(
    layer_class, kwargs, expected
):
    head = layer_class(units=2, **kwargs)
    y = head(np.zeros((3, 4), "float32")).numpy()
    np.testing.assert_allclose(
        y, np.repeat([expected], 2, axis=1).repeat(3, 0), rtol=2e-6
    )
    low = head(seeded_normal((64, 4), scale=1e3)).numpy()
    positive = low[:, 2:] if layer_class is StudentTHead else low
    assert np.all(positive >= np.finfo("float32").eps)
    assert head.get_config()["units"] == 2
    assert type(layer_class.from_config(head.get_config())) is layer_class


def test_student_t_head_learns_df_per_input_unless_it_is_fixed():
    learned = StudentTHead(units=1, min_df=2.5)
    assert learned.df_head.min_value == 2.5
    assert learned.scale_head.min_value == np.finfo("float32").eps
    low = learned(seeded_normal((64, 3), scale=1e3)).numpy()
    assert np.all(low[:, 2] >= 2.5)
    fixed = StudentTHead(units=1, df=3.0)
    np.testing.assert_array_equal(fixed(seeded_normal((5, 3))).numpy()[:, 2], 3.0)
    assert not hasattr(fixed, "df_head")
    assert len(fixed.trainable_weights) == 4  # loc and scale kernels and biases
    assert fixed.get_config()["df"] == 3.0
    assert StudentTHead.from_config(fixed.get_config()).df == 3.0


@pytest.mark.parametrize(
    "layer_class, kwargs, message",
    [
        (
            PoissonHead,
            {"min_rate": 0.0},
            "`min_rate` must be > 0. Received: min_rate=0",
        ),
        (PoissonHead, {"min_rate": -1.0}, "`min_rate` must be > 0"),
        (
            PoissonHead,
            {"min_rate": 2.0, "initial_rate": 2.0},
            "`initial_rate` must be > `min_rate`. Received: initial_rate=2.0",
        ),
        (
            GammaHead,
            {"initial_concentration": 1e-9},
            "`initial_concentration` must be > `min_concentration`",
        ),
        (GammaHead, {"min_rate": 0.0}, "`min_rate` must be > 0"),
        (
            NegativeBinomialHead,
            {"min_total_count": -1.0},
            "`min_total_count` must be > 0. Received: min_total_count=-1.0",
        ),
        (
            NegativeBinomialHead,
            {"min_mean": 1.0},
            "`initial_mean` must be > `min_mean`",
        ),
        (StudentTHead, {"df": 2.0}, r"`df` must be > 2.*Received: df=2.0"),
        (StudentTHead, {"df": 1}, r"`df` must be > 2.*Received: df=1"),
        (StudentTHead, {"min_df": 1.5}, r"`min_df` must be >= 2.*Received: min_df=1.5"),
        (StudentTHead, {"initial_df": 2.0}, "`initial_df` must be > `min_df`"),
        (StudentTHead, {"min_scale": 0.0}, "`min_scale` must be > 0"),
    ],
    ids=[
        "zero_min_rate",
        "negative_min_rate",
        "initial_rate_at_floor",
        "initial_concentration_below_floor",
        "zero_gamma_min_rate",
        "negative_min_total_count",
        "initial_mean_at_floor",
        "df_two",
        "df_one",
        "min_df_below_two",
        "initial_df_at_floor",
        "zero_min_scale",
    ],
)
def test_new_heads_reject_bad_arguments_naming_them(layer_class, kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer_class(**kwargs)


def fit(head, loss, x, y, epochs):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(16, activation="tanh"), head]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return model.predict(np.array([[-0.6], [0.0], [0.6]], "float32"), verbose=0)


def synthetic_inputs(n=2048, seed=0):
    rng = np.random.default_rng(seed)
    return rng, rng.uniform(-1, 1, size=(n, 1)).astype("float32")


AT = np.array([-0.6, 0.0, 0.6])


# Parameter recovery: each head is fitted by its NLL on 2048 draws from its
# own distribution with input-dependent parameters, and must recover the mean
# and the spread at x = -0.6 and 0.6 within the tolerance in the test's name.


def test_student_t_head_recovers_loc_within_0_1_and_stddev_within_20_percent():
    rng, x = synthetic_inputs()
    scale = 0.3 + 0.4 * (x + 1)
    y = (2 * x + scale * rng.standard_t(5.0, size=x.shape)).astype("float32")
    prediction = fit(StudentTHead(), StudentTNLL(), x, y, epochs=10)
    loc, _, _ = split_student_t_params(prediction)
    np.testing.assert_allclose(loc.numpy().ravel(), 2 * AT, atol=0.1)
    stddev = student_t_stddev(prediction).numpy().ravel()
    true_stddev = (0.3 + 0.4 * (AT + 1)) * np.sqrt(5 / 3)
    np.testing.assert_allclose(stddev, true_stddev, rtol=0.2)


def test_poisson_head_recovers_the_rate_within_10_percent():
    rng, x = synthetic_inputs()
    y = rng.poisson(np.exp(1.0 + x)).astype("float32")
    (rate,) = split_poisson_params(fit(PoissonHead(), PoissonNLL(), x, y, epochs=10))
    np.testing.assert_allclose(rate.numpy().ravel(), np.exp(1.0 + AT), rtol=0.1)


def test_negative_binomial_head_recovers_mean_10_and_variance_35_percent():
    rng, x = synthetic_inputs(4096)
    mean, total_count = np.exp(1.5 + x), 2.0
    y = rng.negative_binomial(total_count, total_count / (total_count + mean))
    prediction = fit(
        NegativeBinomialHead(), NegativeBinomialNLL(), x, y.astype("float32"), 15
    )
    got_mean, got_total_count = split_negative_binomial_params(prediction)
    got_mean = got_mean.numpy().ravel()
    got_variance = got_mean + got_mean**2 / got_total_count.numpy().ravel()
    true_mean = np.exp(1.5 + AT)
    np.testing.assert_allclose(got_mean, true_mean, rtol=0.1)
    np.testing.assert_allclose(got_variance, true_mean + true_mean**2 / 2, rtol=0.35)


def test_gamma_head_recovers_mean_10_and_variance_30_percent():
    rng, x = synthetic_inputs()
    mean, concentration = 2.0 + x, 4.0
    y = rng.gamma(concentration, mean / concentration).astype("float32")
    got_concentration, got_rate = split_gamma_params(
        fit(GammaHead(), GammaNLL(), x, y, epochs=10)
    )
    got_concentration = got_concentration.numpy().ravel()
    got_rate = got_rate.numpy().ravel()
    true_mean = 2.0 + AT
    np.testing.assert_allclose(got_concentration / got_rate, true_mean, rtol=0.1)
    np.testing.assert_allclose(
        got_concentration / got_rate**2, true_mean**2 / concentration, rtol=0.3
    )


FRESH_PROCESS_CHECK = """
import sys
import numpy as np
import tensorflow as tf

directory = sys.argv[1]
x = np.load(f"{directory}/x.npy")
expected = np.load(f"{directory}/expected.npy")
exported = tf.saved_model.load(f"{directory}/export")  # keeps its variables
served = exported.serve(tf.constant(x))
np.testing.assert_allclose(served.numpy(), expected, rtol=1e-6, atol=1e-7)
assert "keras_softplus" not in sys.modules  # served without the package
import keras
import keras_softplus
model = keras.saving.load_model(f"{directory}/heads.keras", safe_mode=True)
np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
print(" ".join(type(layer).__name__ for layer in model.layers))
"""


def test_new_heads_reload_in_a_fresh_process_and_serve_without_the_package(tmp_path):
    """One model holds every new head, saved and exported once, checked in one
    fresh process: served by TensorFlow alone, then loaded with
    safe_mode=True."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,))
    features = keras.layers.Dense(4)(inputs)
    heads = [
        layer_class(**init_kwargs)(features)
        for layer_class, init_kwargs, _, _ in NEW_HEADS.values()
    ]
    model = keras.Model(inputs, keras.layers.Concatenate()(heads))
    x = seeded_normal((5, 3), seed=11)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "heads.keras")
    model.export(str(tmp_path / "export"), verbose=False)
    script = tmp_path / "check.py"
    script.write_text(FRESH_PROCESS_CHECK)
    output = run_python(
        f"import runpy, sys; sys.argv = ['check', {str(tmp_path)!r}]; "
        f"runpy.run_path({str(script)!r})"
    )
    loaded = set(output.split())
    assert {spec[0].__name__ for spec in NEW_HEADS.values()} <= loaded


def test_new_heads_train_under_mixed_precision_with_dtype_floors():
    """float16 heads (floor: float16 eps) feed float32 losses; one step of a
    model with the four heads as outputs."""
    heads = [
        StudentTHead(dtype="mixed_float16"),
        PoissonHead(dtype="mixed_float16"),
        NegativeBinomialHead(dtype="mixed_float16"),
        GammaHead(dtype="mixed_float16"),
    ]
    for head in heads:
        floors = [p.min_value for p in head.head_parameters if p.positive]
        assert floors[0] == np.finfo("float16").eps
    inputs = keras.Input((3,))
    features = keras.layers.Dense(4, dtype="mixed_float16")(inputs)
    model = keras.Model(inputs, [head(features) for head in heads])
    model.compile(
        optimizer="adam",
        loss=[StudentTNLL(), PoissonNLL(), NegativeBinomialNLL(), GammaNLL()],
    )
    targets = [
        normal_targets(16)[:, :1],
        count_targets(16)[:, :1],
        count_targets(16)[:, 1:],
        positive_targets(16)[:, :1],
    ]
    history = model.fit(
        seeded_normal((16, 3), seed=12), targets, batch_size=16, epochs=1, verbose=0
    )
    assert all(output.dtype == "float16" for output in model.outputs)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "layer_class, kwargs, message",
    [
        pytest.param(
            StudentTHead,
            {"df": 7e4, "dtype": "mixed_float16"},
            "`df` overflows float16",
            id="fixed_df_float16",
        ),
        pytest.param(
            StudentTHead,
            {"df": 1e39},
            "`df` overflows float32",
            id="fixed_df_float32",
        ),
        pytest.param(
            StudentTHead,
            {"initial_df": 7e4, "dtype": "mixed_float16"},
            "`initial_df` overflows float16",
            id="initial_df_float16",
        ),
        pytest.param(
            PoissonHead,
            {"initial_rate": 1e5, "dtype": "mixed_float16"},
            "`initial_rate` overflows float16",
            id="initial_rate_float16",
        ),
        pytest.param(
            PoissonHead,
            {"initial_rate": 1e39},
            "`initial_rate` overflows float32",
            id="initial_rate_float32",
        ),
        pytest.param(
            PoissonHead,
            {"initial_rate": 1e39, "dtype": "mixed_bfloat16"},
            "`initial_rate` overflows bfloat16",
            id="initial_rate_bfloat16",
        ),
        pytest.param(
            NegativeBinomialHead,
            {"initial_total_count": 1e6, "dtype": "mixed_float16"},
            "`initial_total_count` overflows float16",
            id="initial_total_count_float16",
        ),
        pytest.param(
            GammaHead,
            {"initial_concentration": 1e39},
            "`initial_concentration` overflows float32",
            id="initial_concentration_float32",
        ),
        pytest.param(
            NormalHead,
            {"initial_scale": 7e4, "dtype": "mixed_float16"},
            "`initial_scale` overflows float16",
            id="initial_scale_float16",
        ),
        pytest.param(
            # 65519 rounds to float16's largest, 65504, but the output at
            # initialisation, 3e4 + softplus(bias), rounds to inf.
            PoissonHead,
            {"min_rate": 3e4, "initial_rate": 65519.0, "dtype": "mixed_float16"},
            r"`initial_rate` makes the output at initialisation overflow float16",
            id="output_at_initialisation_float16",
        ),
    ],
)
def test_initial_values_and_a_fixed_df_are_checked_in_the_compute_dtype(
    layer_class, kwargs, message
):
    """They gave inf outputs at initialisation, or a NumPy conversion error
    at the first call; the `min_*` arguments were already checked."""
    with pytest.raises(ValueError, match=message):
        layer_class(**kwargs)


@pytest.mark.parametrize(
    "layer_class, kwargs",
    [
        pytest.param(StudentTHead, {"df": 6e4}, id="fixed_df"),
        pytest.param(PoissonHead, {"initial_rate": 6e4}, id="initial_rate"),
        pytest.param(
            NegativeBinomialHead, {"initial_total_count": 6e4}, id="initial_total_count"
        ),
    ],
)
def test_values_below_the_float16_maximum_give_finite_outputs(layer_class, kwargs):
    head = layer_class(dtype="mixed_float16", **kwargs)
    outputs = head(np.zeros((2, 3), "float32"))
    assert outputs.dtype == "float16"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))
    assert np.max(keras.ops.convert_to_numpy(outputs)) == np.float16(6e4)
