"""Saving, loading and serving models built with the package, and loading the
models that version 0.1.0 saved.

Loading and serving run in fresh Python processes, so that nothing of this
process (registered classes, imported modules) helps them.
"""

import json
import pathlib
import zipfile

import keras
import numpy as np
import pytest
from fresh_process import run_python

import keras_softplus
from keras_softplus import metrics
from keras_softplus.constraints import SoftplusPositive
from keras_softplus.distributions import as_normal
from keras_softplus.layers import NormalHead
from keras_softplus.layers import PositiveDense
from keras_softplus.layers import PositiveHead
from keras_softplus.losses import NormalNLL

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "v0_1_0"
FIXTURES_0_2_0 = FIXTURES.parent / "v0_2_0"

REGISTERED_NAMES = {
    keras_softplus.BetaSoftplus: "keras_softplus>BetaSoftplus",
    keras_softplus.activations.FixedBetaSoftplus: "keras_softplus>FixedBetaSoftplus",
    keras_softplus.layers.DistributionHead: "keras_softplus>DistributionHead",
    SoftplusPositive: "keras_softplus>SoftplusPositive",
    PositiveDense: "keras_softplus>PositiveDense",
    PositiveHead: "keras_softplus>PositiveHead",
    NormalHead: "keras_softplus>NormalHead",
    NormalNLL: "keras_softplus>NormalNLL",
    metrics.NormalNLLMetric: "keras_softplus>NormalNLLMetric",
    metrics.NormalMeanRMSE: "keras_softplus>NormalMeanRMSE",
    metrics.NormalCRPS: "keras_softplus>NormalCRPS",
}

LOAD_SCRIPT = """
import json, sys
import numpy as np
import keras
import keras_softplus
from keras_softplus import distributions

directory = sys.argv[1]
x = np.load(f"{directory}/x.npy")
y = np.load(f"{directory}/y.npy")
model = keras.saving.load_model(f"{directory}/model.keras", safe_mode=True)
info = {"layers": [type(layer).__name__ for layer in model.layers]}
prediction = model.predict(x, verbose=0)
np.save(f"{directory}/loaded_prediction.npy", prediction)
info["evaluate"] = model.evaluate(x, y, verbose=0, return_dict=True)
info["iterations"] = int(model.optimizer.iterations.numpy())
info["optimizer_paths"] = [v.path for v in model.optimizer.variables]
np.savez(f"{directory}/loaded_optimizer.npz",
         *[np.asarray(v.numpy()) for v in model.optimizer.variables])
info["tfp_imported_before_as_normal"] = "tensorflow_probability" in sys.modules
normal = distributions.as_normal(prediction)
np.save(f"{directory}/loaded_mean.npy", normal.mean().numpy())
np.save(f"{directory}/loaded_stddev.npy", normal.stddev().numpy())
model.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
info["iterations_after_step"] = int(model.optimizer.iterations.numpy())
np.savez(f"{directory}/stepped_weights.npz", *[w.numpy() for w in model.weights])
print(json.dumps(info))
"""

NO_IMPORT_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
import keras

directory = sys.argv[1]
info = {}
try:
    keras.saving.load_model(f"{directory}/model.keras")
    info["load_error"] = None
except Exception as error:
    info["load_error"] = f"{type(error).__name__}: {error}"
info["imported_after_load"] = "keras_softplus" in sys.modules
served = tf.saved_model.load(f"{directory}/served")
x = np.load(f"{directory}/x.npy")
np.save(f"{directory}/served_prediction.npy", served.serve(tf.constant(x)).numpy())
info["imported_after_serve"] = "keras_softplus" in sys.modules
print(json.dumps(info))
"""


def run_fresh(script, directory):
    """Runs `script` on `directory` in a fresh process; its last line, JSON."""
    output = run_python(script, directory, cwd=directory)
    return json.loads(output.strip().splitlines()[-1])


def build_model():
    inputs = keras.Input((4,))
    hidden = PositiveDense(
        8,
        activation=SoftplusPositive(0.05),
        positive=SoftplusPositive(min_value=0.01, beta=2.0),
        kernel_regularizer=keras.regularizers.L2(1e-3),
    )(inputs)
    hidden = keras.layers.Dense(8, activation=SoftplusPositive(0.1))(hidden)
    hidden = PositiveHead(8, min_value=0.01, initial_value=0.5, learn_beta=True)(hidden)
    outputs = NormalHead(units=2, min_scale=1e-4, initial_scale=0.5)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=NormalNLL(beta_nll=0.5),
        metrics=[
            metrics.NormalNLLMetric(),
            metrics.NormalMeanRMSE(),
            metrics.NormalCRPS(),
        ],
    )
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("saved_heads")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = np.stack([x[:, 0] + x[:, 1], np.abs(x[:, 2])], axis=-1).astype("float32")
    y += (0.1 + 0.5 * np.abs(x[:, 3:4]) * rng.normal(size=y.shape)).astype("float32")
    model = build_model()
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)  # 6 steps
    np.save(directory / "x.npy", x)
    np.save(directory / "y.npy", y)
    model.save(directory / "model.keras")
    model.export(str(directory / "served"), verbose=False)
    return {
        "directory": directory,
        "model": model,
        "x": x,
        "y": y,
        "prediction": model.predict(x, verbose=0),
        "evaluate": model.evaluate(x, y, verbose=0, return_dict=True),
        "optimizer": [np.asarray(v.numpy()) for v in model.optimizer.variables],
        "optimizer_paths": [v.path for v in model.optimizer.variables],
    }


@pytest.fixture(scope="module")
def loaded(saved):
    return run_fresh(LOAD_SCRIPT, saved["directory"])


@pytest.fixture(scope="module")
def without_package(saved):
    return run_fresh(NO_IMPORT_SCRIPT, saved["directory"])


def test_registered_names_are_stable():
    for cls, name in REGISTERED_NAMES.items():
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls


def test_keras_file_refers_to_the_registered_names(saved):
    with zipfile.ZipFile(saved["directory"] / "model.keras") as archive:
        config = archive.read("config.json").decode()
    in_model = set(REGISTERED_NAMES) - {
        keras_softplus.BetaSoftplus,
        keras_softplus.activations.FixedBetaSoftplus,
        keras_softplus.layers.DistributionHead,
    }
    for cls in in_model:
        assert f'"{REGISTERED_NAMES[cls]}"' in config, cls
    assert "lambda" not in config.lower()


def test_fresh_process_loads_in_safe_mode_and_predicts_the_same(saved, loaded):
    assert loaded["layers"] == [type(layer).__name__ for layer in saved["model"].layers]
    prediction = np.load(saved["directory"] / "loaded_prediction.npy")
    np.testing.assert_array_equal(prediction, saved["prediction"])
    for key, value in saved["evaluate"].items():
        np.testing.assert_allclose(loaded["evaluate"][key], value, rtol=1e-6)


def test_fresh_process_as_normal_gives_the_same_parameters(saved, loaded):
    assert not loaded["tfp_imported_before_as_normal"]
    normal = as_normal(saved["prediction"])
    np.testing.assert_allclose(
        np.load(saved["directory"] / "loaded_mean.npy"),
        normal.mean().numpy(),
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        np.load(saved["directory"] / "loaded_stddev.npy"),
        normal.stddev().numpy(),
        rtol=1e-7,
    )
    assert np.all(normal.stddev().numpy() >= np.float32(1e-4))


def test_fresh_process_keeps_the_optimizer_state(saved, loaded):
    assert loaded["iterations"] == 6 == int(saved["model"].optimizer.iterations.numpy())
    assert loaded["optimizer_paths"] == saved["optimizer_paths"]
    with np.load(saved["directory"] / "loaded_optimizer.npz") as archive:
        values = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    assert len(values) == len(saved["optimizer"]) > 10
    for got, expected in zip(values, saved["optimizer"], strict=True):
        np.testing.assert_array_equal(got, expected)
    assert any(np.any(v != 0) for v in values[2:])  # moments were saved, not reset


def test_one_more_step_from_the_loaded_model_equals_one_from_the_original(
    saved, loaded
):
    model = saved["model"]
    before = [w.numpy() for w in model.weights]
    model.fit(
        saved["x"][:16],
        saved["y"][:16],
        batch_size=16,
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    assert (
        loaded["iterations_after_step"] == int(model.optimizer.iterations.numpy()) == 7
    )
    with np.load(saved["directory"] / "stepped_weights.npz") as archive:
        stepped = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    assert len(stepped) == len(model.weights)
    changed = 0
    for got, weight, old in zip(stepped, model.weights, before, strict=True):
        np.testing.assert_allclose(
            got, weight.numpy(), rtol=1e-6, atol=1e-7, err_msg=weight.path
        )
        changed += int(np.any(weight.numpy() != old))
    assert changed >= 10  # the step moved (nearly) every trainable weight


def test_loading_without_importing_the_package_fails_clearly(without_package):
    error = without_package["load_error"]
    assert error is not None
    assert "Could not locate class 'PositiveDense'" in error
    assert "register_keras_serializable" in error
    assert not without_package["imported_after_load"]


def test_exported_saved_model_serves_loc_and_scale_without_the_package(
    saved, without_package
):
    assert not without_package["imported_after_serve"]
    served = np.load(saved["directory"] / "served_prediction.npy")
    np.testing.assert_allclose(served, saved["prediction"], rtol=1e-6, atol=1e-7)
    loc, scale = served[:, :2], served[:, 2:]
    assert loc.shape == scale.shape == (48, 2)
    assert np.all(scale >= np.float32(1e-4))


def test_top_level_exports():
    for name in [
        "SoftplusPositive",
        "PositiveDense",
        "PositiveHead",
        "NormalHead",
        "NormalNLL",
    ]:
        assert name in keras_softplus.__all__
    assert keras_softplus.SoftplusPositive is SoftplusPositive
    assert keras_softplus.PositiveDense is PositiveDense
    assert keras_softplus.PositiveHead is PositiveHead
    assert keras_softplus.NormalHead is NormalHead
    assert keras_softplus.NormalNLL is NormalNLL
    for module in ["constraints", "distributions", "losses", "metrics"]:
        assert module in keras_softplus.__all__
        assert getattr(keras_softplus, module).__name__ == f"keras_softplus.{module}"
    for name in ["PositiveDense", "PositiveHead", "NormalHead"]:
        assert name in keras_softplus.layers.__all__


V0_1_0_SCRIPT = """
import json, sys
import numpy as np
import keras
import keras_softplus

directory = sys.argv[1]
data = np.load(f"{directory}/data.npz")
model = keras.saving.load_model(f"{directory}/model.keras", safe_mode=True)
prediction = model.predict(data["x"], verbose=0)
print(json.dumps({
    "layers": [type(layer).__name__ for layer in model.layers],
    "prediction_error": float(np.max(np.abs(prediction - data["prediction"]))),
    "prediction_scale": float(np.max(np.abs(data["prediction"]))),
    "evaluate": model.evaluate(data["x"], data["y"], verbose=0),
    "saved_evaluate": data["evaluate"].tolist(),
}))
"""


def test_models_saved_by_0_1_0_load_and_predict_the_same():
    loaded = run_fresh(V0_1_0_SCRIPT, FIXTURES)
    assert loaded["layers"] == [
        "InputLayer",
        "Dense",
        "BetaSoftplus",
        "PositiveDense",
        "BetaSoftplus",
        "BetaSoftplus",
        "PositiveHead",
        "Concatenate",
        "NormalHead",
    ]
    # Same weights, same math: only float32 rounding differs.
    assert loaded["prediction_error"] <= 1e-6 * loaded["prediction_scale"]
    np.testing.assert_allclose(loaded["evaluate"], loaded["saved_evaluate"], rtol=1e-5)


V0_2_0_SCRIPT = """
import json, sys
import numpy as np
import keras
import keras_softplus

directory = sys.argv[1]
data = np.load(f"{directory}/data.npz")
model = keras.saving.load_model(f"{directory}/model.keras", safe_mode=True)
prediction = model.predict(data["x"], verbose=0)
targets = {name[2:]: data[name] for name in data.files if name.startswith("y_")}
print(json.dumps({
    "layers": sorted(type(layer).__name__ for layer in model.layers),
    "errors": {
        name: float(np.max(np.abs(value - data[f"prediction_{name}"])))
        for name, value in prediction.items()
    },
    "scales": {
        name: float(np.max(np.abs(data[f"prediction_{name}"])))
        for name in prediction
    },
    "evaluate": model.evaluate(data["x"], targets, verbose=0),
    "saved_evaluate": data["evaluate"].tolist(),
}))
"""


def test_models_saved_by_0_2_0_with_every_public_class_load_and_predict_the_same():
    loaded = run_fresh(V0_2_0_SCRIPT, FIXTURES_0_2_0)
    assert loaded["layers"] == sorted(
        [
            "InputLayer",
            "Dense",
            "Dense",
            "BetaSoftplus",
            "PositiveDense",
            "BetaSoftplus",
            "PositiveHead",
            "Concatenate",
            "NormalHead",
            "StudentTHead",
            "PoissonHead",
            "NegativeBinomialHead",
            "GammaHead",
            "DistributionHead",
        ]
    )
    assert set(loaded["errors"]) == {
        "normal",
        "student_t",
        "poisson",
        "negative_binomial",
        "gamma",
        "custom",
    }
    for name, error in loaded["errors"].items():
        # Same weights, same math: only float32 rounding differs.
        assert error <= 1e-6 * loaded["scales"][name], name
    np.testing.assert_allclose(loaded["evaluate"], loaded["saved_evaluate"], rtol=1e-5)
