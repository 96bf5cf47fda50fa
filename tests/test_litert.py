"""Conversion to LiteRT (TensorFlow Lite) of a model with every layer of the
package: exported within `keras_softplus.ops.float32_only()`, converted with
the default builtin op set (no Select TF ops), run in the LiteRT
interpreter."""

import keras
import mpmath_reference as mp_reference
import numpy as np
import pytest
import tensorflow as tf
from input_grids import BETAS
from input_grids import accuracy_grid
from input_grids import seeded_normal

from keras_softplus import layers
from keras_softplus import ops
from keras_softplus.activations import FixedBetaSoftplus

HEADS = (
    layers.NormalHead,
    layers.StudentTHead,
    layers.PoissonHead,
    layers.NegativeBinomialHead,
    layers.GammaHead,
)


def every_layer_model():
    """`PositiveDense`, `BetaSoftplus` (learned beta) and every head, their
    outputs concatenated (one output tensor, in a known order)."""
    inputs = keras.Input((4,))
    hidden = layers.PositiveDense(8)(inputs)
    hidden = layers.BetaSoftplus(beta=1.5)(hidden)
    hidden = keras.layers.Dense(8)(hidden)
    outputs = [head(units=2)(hidden) for head in HEADS]
    return keras.Model(inputs, keras.layers.Concatenate()(outputs))


def float64_or_xla_nodes(model):
    """Nodes of the model's serving graph (its functions included) that have
    a float64 type or are an XLA launch of their own."""
    graph_def = (
        tf.function(model)
        .get_concrete_function(tf.TensorSpec([None, 4], tf.float32))
        .graph.as_graph_def()
    )
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes += function.node_def
    double = tf.float64.as_datatype_enum
    return [
        node.name
        for node in nodes
        if node.attr["_XlaMustCompile"].b
        or any(
            value.type == double or double in value.list.type
            for value in node.attr.values()
        )
    ]


def test_float32_only_graph_has_no_float64_and_no_xla_launch():
    model = every_layer_model()
    assert float64_or_xla_nodes(model)  # the default path has both
    with ops.float32_only():
        assert float64_or_xla_nodes(model) == []


def run_in_litert(model, x, path, **interpreter_options):
    """`model(x)` exported within `float32_only`, converted with the default
    (builtin) op set and run in the LiteRT interpreter."""
    with ops.float32_only():
        model.export(str(path), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
    assert converter.target_spec.supported_ops == {tf.lite.OpsSet.TFLITE_BUILTINS}
    interpreter = tf.lite.Interpreter(
        model_content=converter.convert(), **interpreter_options
    )
    (input_detail,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(input_detail["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_detail["index"], x)
    interpreter.invoke()
    (output_detail,) = interpreter.get_output_details()
    return interpreter.get_tensor(output_detail["index"])


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_model_with_every_layer_converts_to_litert_and_matches_keras(tmp_path):
    model = every_layer_model()
    x = seeded_normal((32, 4), seed=0, scale=3.0)
    got = run_in_litert(model, x, tmp_path)
    expected = model.predict(x, verbose=0)
    # Measured (1000 rows): positive outputs within 9 float32 ulp relative
    # (their dense inputs, summed in another order, differ by an ulp, which
    # softplus's far tail scales by |beta*x|); locations within 5e-7
    # absolute, an ulp of their largest terms.
    eps = float(np.finfo(np.float32).eps)
    atol = 4 * eps * float(np.max(np.abs(expected)))
    np.testing.assert_allclose(got, expected, rtol=16 * eps, atol=atol)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_softplus_in_the_litert_builtin_kernels_within_4_ulp_of_mpmath(tmp_path):
    x = accuracy_grid(200).astype("float32")
    inputs = keras.Input(x.shape)
    activations = [
        keras.layers.Activation(FixedBetaSoftplus(beta))(inputs) for beta in BETAS
    ]
    model = keras.Model(inputs, keras.layers.Concatenate()(activations))
    # The builtin kernels: XNNPACK, the interpreter's default delegate,
    # computes exp less accurately (measured: up to 37 ulp for beta*x
    # below -50).
    builtin = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    got = run_in_litert(
        model, x[None], tmp_path, experimental_op_resolver_type=builtin
    )[0]
    exact = [
        mp_reference.softplus_and_partials(float(v), float(np.float32(beta)))[0]
        for beta in BETAS
        for v in x
    ]
    errors = mp_reference.ulp_errors(got, exact, "float32")
    worst = int(np.argmax(errors))
    assert errors[worst] <= 4, (errors[worst], np.tile(x, len(BETAS))[worst])
