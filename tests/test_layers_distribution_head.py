"""Tests of `keras_softplus.layers.distribution_head`: `DistributionHead`."""

import keras
import numpy as np
import pytest
from input_grids import seeded_normal
from layer_contract import check_layer_contract

from keras_softplus.layers import DistributionHead
from keras_softplus.layers import HeadParameter
from keras_softplus.layers import PositiveHead
from keras_softplus.losses import NormalNLL

LOC_AND_SCALE = [
    {"name": "loc"},
    {"name": "scale", "positive": True, "min_value": 1e-3},
]


def test_layer_contract(tmp_path):
    check_layer_contract(
        DistributionHead,
        {"units": 2, "parameters": LOC_AND_SCALE},
        (4, 3),
        tmp_path,
        loss=NormalNLL(),
        targets=lambda batch_size: seeded_normal((batch_size, 2), seed=7),
    )


def test_declares_parameters_and_derives_the_floor_from_the_dtype():
    head = DistributionHead(
        3,
        [
            HeadParameter("loc"),
            HeadParameter("rate", positive=True, initial_value=2.0),
            HeadParameter("scale", positive=True, min_value=0.5, initial_value=1.0),
        ],
    )
    y = head(np.zeros((2, 4), "float32")).numpy()
    np.testing.assert_allclose(y, [[0.0] * 3 + [2.0] * 3 + [1.0] * 3] * 2, rtol=2e-6)
    assert head.rate_head.min_value == np.finfo("float32").eps
    assert head.scale_head.min_value == 0.5
    assert isinstance(head.loc_dense, keras.layers.Dense)
    assert isinstance(head.rate_head, PositiveHead)
    low = head(seeded_normal((64, 4), scale=1e3)).numpy()
    assert np.all(low[:, 3:6] >= np.finfo("float32").eps)
    assert np.all(low[:, 6:] >= 0.5)


def test_prefixed_dense_options_reach_their_parameter_and_round_trip():
    head = DistributionHead(
        2,
        LOC_AND_SCALE,
        loc_bias_initializer=keras.initializers.Constant(3.0),
        loc_kernel_initializer="zeros",
        scale_kernel_regularizer=keras.regularizers.L2(0.1),
        scale_bias_constraint=keras.constraints.NonNeg(),
    )
    loc = head(seeded_normal((5, 4)))[:, :2]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loc), 3.0)
    assert len(head.losses) == 1
    assert isinstance(head.scale_head.bias_constraint, keras.constraints.NonNeg)
    assert head.loc_dense.kernel_regularizer is None
    config = head.get_config()
    assert config["scale_kernel_regularizer"]["config"]["l2"] == pytest.approx(0.1)
    assert DistributionHead.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "units, parameters, kwargs, error, message",
    [
        pytest.param(
            1, [], {}, ValueError, "must name at least one parameter", id="empty"
        ),
        pytest.param(
            1,
            [HeadParameter("a"), HeadParameter("a")],
            {},
            ValueError,
            "each once",
            id="repeated",
        ),
        pytest.param(
            1,
            "loc",
            {},
            TypeError,
            r"`parameters` must be a list of `HeadParameter`s .*"
            r"Received: parameters='loc'",
            id="string",
        ),
        pytest.param(
            1,
            HeadParameter("loc"),
            {},
            TypeError,
            r"`parameters` must be a list of `HeadParameter`s .*"
            r"Received: parameters=HeadParameter\(name='loc'",
            id="one_parameter_unlisted",
        ),
        pytest.param(
            1,
            ["loc"],
            {},
            TypeError,
            r"`parameters` must be a list of `HeadParameter`s .*"
            r"Received: parameters=\['loc'\]",
            id="list_of_names",
        ),
        pytest.param(
            1,
            [{"name": "loc", "floor": 1.0}],
            {},
            TypeError,
            r"`parameters` must be a list of `HeadParameter`s .*"
            r"Received: parameters=\[\{'name': 'loc', 'floor': 1.0\}\]",
            id="unknown_field",
        ),
        pytest.param(
            float("inf"),
            LOC_AND_SCALE,
            {},
            ValueError,
            "`units` must be a positive integer. Received: units=inf",
            id="infinite_units",
        ),
        pytest.param(
            2.5,
            LOC_AND_SCALE,
            {},
            ValueError,
            "`units` must be a positive integer. Received: units=2.5",
            id="fractional_units",
        ),
        pytest.param(
            1,
            LOC_AND_SCALE,
            {"scale_bias_initializer": "zeros"},
            ValueError,
            "`scale_bias_initializer` is not accepted",
            id="positive_bias_initializer",
        ),
        pytest.param(
            1,
            [{"name": "rate", "positive": True, "initial_value": 1e5}],
            {"dtype": "mixed_float16"},
            ValueError,
            "`initial_rate` overflows float16",
            id="initial_value_overflows",
        ),
    ],
)
def test_rejects_bad_declarations_naming_the_argument(
    units, parameters, kwargs, error, message
):
    with pytest.raises(error, match=message):
        DistributionHead(units, parameters, **kwargs)
