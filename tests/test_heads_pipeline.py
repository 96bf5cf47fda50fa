"""Targets of unknown static shape, as a `tf.data` pipeline gives them: the
right shapes give the numbers of known shapes, in eager, `tf.function`,
`fit`, `evaluate` and under XLA; wrong shapes raise the static check's error
(a run-time `InvalidArgumentError` in graphs), or give NaN where XLA drops
the check, never a wrong number. Issue: `(N, N)` targets for a `units=1`
`PoissonNLL` gave 19.5 where the right figure is 2.4."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_softplus

BATCH = 8
# The static check's message, up to the shapes it names.
SHAPE_MESSAGE = (
    "`y_true` must have shape `(..., units)` for a head output with `units` "
    "per parameter."
)

# Per case: head, its arguments, loss, and the targets of one unit.
CASES = {
    "normal": ("NormalHead", {"initial_scale": 0.7}, "NormalNLL", "real"),
    "student_t": ("StudentTHead", {"initial_scale": 1.5}, "StudentTNLL", "real"),
    "poisson": ("PoissonHead", {"initial_rate": 3.0}, "PoissonNLL", "count"),
    "negative_binomial": (
        "NegativeBinomialHead",
        {"initial_mean": 3.0, "initial_total_count": 2.0},
        "NegativeBinomialNLL",
        "count",
    ),
    "gamma": ("GammaHead", {"initial_concentration": 2.0}, "GammaNLL", "positive"),
}

# Unknown static shapes of the targets: unknown dimensions, unknown rank.
TARGET_SPECS = {"unknown_dimensions": (None, None), "unknown_rank": None}


def targets(kind, shape):
    rng = np.random.default_rng(1)
    if kind == "count":
        return rng.poisson(3.0, size=shape).astype("float32")
    if kind == "positive":
        return rng.gamma(2.0, size=shape).astype("float32")
    return rng.normal(size=shape).astype("float32")


def model_and_data(case, units, target_shape):
    head_name, kwargs, loss_name, kind = CASES[case]
    keras.utils.set_random_seed(0)
    head = getattr(keras_softplus.layers, head_name)(units=units, **kwargs)
    model = keras.Sequential([keras.Input((3,)), head])
    x = np.random.default_rng(0).normal(scale=0.3, size=(BATCH, 3)).astype("float32")
    y = targets(kind, target_shape)
    loss = getattr(keras_softplus.losses, loss_name)()
    return model, loss, x, y


def known_shape_loss(case, units):
    model, loss, x, y = model_and_data(case, units, (BATCH, units))
    return float(loss(y, model(x)))


def dataset(x, y, spec):
    """One batch of `(x, y)` whose target shape is statically `spec`."""

    def generate():
        yield x, y

    return tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec((None, 3), tf.float32),
            tf.TensorSpec(spec, tf.float32),
        ),
    )


def graph_loss(loss, spec, outputs):
    @tf.function(
        input_signature=[
            tf.TensorSpec(spec, tf.float32),
            tf.TensorSpec((None, outputs.shape[-1]), outputs.dtype),
        ]
    )
    def compute(y_true, y_pred):
        return loss(y_true, y_pred)

    return compute


# Wrong target shapes: (N, N) for units=1 (broadcast and summed on 0.2.0),
# (N, 1) for units=2 (reused for both units on 0.2.0).
WRONG_SHAPES = [
    pytest.param(1, (BATCH, BATCH), id="square_for_units_1"),
    pytest.param(2, (BATCH, 1), id="one_column_for_units_2"),
]


@pytest.mark.parametrize("spec", list(TARGET_SPECS.values()), ids=list(TARGET_SPECS))
@pytest.mark.parametrize("case", list(CASES))
def test_unknown_shape_targets_in_a_graph_give_the_known_shape_loss(case, spec):
    for units in (1, 2):
        model, loss, x, y = model_and_data(case, units, (BATCH, units))
        outputs = model(x)
        got = float(graph_loss(loss, spec, outputs)(y, outputs))
        np.testing.assert_allclose(got, known_shape_loss(case, units), rtol=1e-6)


@pytest.mark.parametrize(("units", "target_shape"), WRONG_SHAPES)
@pytest.mark.parametrize(
    ("case", "spec"),
    [pytest.param(case, (None, None), id=case) for case in CASES]
    + [
        pytest.param(case, None, id=f"{case}-unknown_rank")
        for case in ("poisson", "normal")
    ],
)
def test_wrong_shape_targets_raise_the_static_message(case, units, target_shape, spec):
    model, loss, x, y = model_and_data(case, units, target_shape)
    outputs = model(x)
    with pytest.raises(ValueError) as static:
        loss(y, outputs)
    assert SHAPE_MESSAGE in str(static.value)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`y_true` must have"):
        graph_loss(loss, spec, outputs)(y, outputs)


@pytest.mark.parametrize(
    ("case", "spec"),
    [
        pytest.param("poisson", (None, None), id="poisson-unknown_dimensions"),
        pytest.param("poisson", None, id="poisson-unknown_rank"),
        pytest.param("normal", (None, None), id="normal-unknown_dimensions"),
    ],
)
def test_fit_and_evaluate_on_unknown_shape_targets(case, spec):
    """Right shapes: the known-shape loss; wrong shapes: the static message
    (issue: PoissonNLL 19.5 for 2.4, NormalNLL 23.8 for 3.5)."""
    model, loss, x, y = model_and_data(case, 1, (BATCH, 1))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)
    expected = known_shape_loss(case, 1)
    np.testing.assert_allclose(
        model.evaluate(dataset(x, y, spec), verbose=0), expected, rtol=1e-6
    )
    history = model.fit(dataset(x, y, spec), epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-6)
    square = np.tile(y, (1, BATCH))
    for run in (model.evaluate, model.fit):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"`y_true` must have"):
            run(dataset(x, square, spec), verbose=0)


@pytest.mark.parametrize("case", list(CASES))
def test_eager_pipeline_raises_the_static_message(case):
    model, loss, x, y = model_and_data(case, 1, (BATCH, BATCH))
    for batch_x, batch_y in dataset(x, y, (None, None)):
        with pytest.raises(ValueError, match=r"`y_true` must have shape"):
            loss(batch_y, model(batch_x))


@pytest.mark.parametrize("case", ["poisson", "normal", "negative_binomial"])
def test_xla_gives_the_known_shape_loss_or_nan_never_a_wrong_number(case):
    """Under `jit_compile=True` a run-time check may be dropped: wrong
    shapes then give NaN."""
    model, loss, x, y = model_and_data(case, 1, (BATCH, 1))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=True)
    expected = known_shape_loss(case, 1)
    np.testing.assert_allclose(
        model.evaluate(dataset(x, y, (None, None)), verbose=0), expected, rtol=1e-5
    )
    square = np.tile(y, (1, BATCH))
    try:
        got = model.evaluate(dataset(x, square, (None, None)), verbose=0)
    except tf.errors.InvalidArgumentError as error:
        assert "`y_true` must have" in str(error)
    else:
        assert np.isnan(got), got
