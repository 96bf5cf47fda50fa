"""Tests of `keras_softplus.ops.student_t`: split and NLL."""

import numpy as np
import scoringrules
import tensorflow as tf
import tensorflow_probability as tfp

from keras_softplus.ops.normal import normal_nll
from keras_softplus.ops.student_t import student_t_crps
from keras_softplus.ops.student_t import student_t_nll
from keras_softplus.ops.student_t import student_t_stddev

tfd = tfp.distributions
EPS32 = float(np.finfo("float32").eps)


def cases():
    loc = np.array([0.0, 1.0, -3.0, 0.0, 0.0, 5.0, 2.0])
    scale = np.array([1.0, 0.5, EPS32, 2.0, 1.0, 1.0, 1.0])
    df = np.array([3.0, 2.0 + 1e-4, 5.0, 1e6, 30.0, 2.5, 4.0])
    y = np.array([0.0, 10.0, 1e-3, 1.0, 1e4, 5.0, 2.0 + 1e4])
    return y, np.stack([loc, scale, df], axis=1)


def test_nll_equals_minus_tfp_log_prob_within_2e_4_in_float32():
    y, y_pred = cases()
    exact = -tfd.StudentT(y_pred[:, 2], y_pred[:, 0], y_pred[:, 1]).log_prob(y)
    got = student_t_nll(y[:, None].astype("float32"), y_pred.astype("float32"))
    np.testing.assert_allclose(got.numpy(), exact.numpy(), rtol=2e-4)
    np.testing.assert_allclose(student_t_nll(y[:, None], y_pred), exact, rtol=1e-12)


def test_large_df_tends_to_the_normal():
    y = np.array([[0.3], [-2.0]])
    y_pred = np.array([[0.0, 1.5, 1e12], [1.0, 0.5, 1e12]])
    np.testing.assert_allclose(
        student_t_nll(y, y_pred), normal_nll(y, y_pred[:, :2]), rtol=1e-8
    )


def test_outliers_far_away_give_finite_values_and_bounded_loc_gradients():
    y = np.array([[1e4], [1e18], [0.0]], "float32")
    y_pred = tf.Variable(
        np.array([[0.0, 1.0, 3.0]] * 2 + [[0.0, EPS32, 3.0]], "float32")
    )
    with tf.GradientTape() as tape:
        nll = student_t_nll(y, y_pred)
    gradient = tape.gradient(nll, y_pred).numpy()
    assert np.all(np.isfinite(nll.numpy())) and np.all(np.isfinite(gradient))
    # d nll / d loc = -(df + 1) z / (df + z**2) / scale -> 0 for large z
    assert abs(gradient[0, 0]) < 1e-3 and abs(gradient[1, 0]) < 1e-12


def test_stddev():
    y_pred = np.array([[0.0, 2.0, 6.0]])
    np.testing.assert_allclose(student_t_stddev(y_pred), [[2.0 * np.sqrt(1.5)]])


def test_crps_matches_scoringrules_from_df_near_2_to_large_df():
    loc = np.array([0.0, 1.0, -3.0, 0.0, 0.0, 5.0, 0.0, 0.0, 2.0])
    scale = np.array([1.0, 0.5, 1e-3, 2.0, 1.0, 1.0, 1.0, 1.0, 3.0])
    df = np.array([3.0, 2.0001, 5.0, 1e3, 30.0, 2.5, 4.0, 10.0, 300.0])
    y = np.array([0.5, 10.0, 1e-3, 1.0, 1e4, 5.0, 0.0, -3.0, -7.0])
    y_pred = np.stack([loc, scale, df], axis=1)
    expected = scoringrules.crps_t(y, df, loc, scale)
    np.testing.assert_allclose(student_t_crps(y[:, None], y_pred), expected, rtol=1e-9)
    got32 = student_t_crps(y[:, None].astype("float32"), y_pred.astype("float32"))
    np.testing.assert_allclose(got32, expected, rtol=3e-5)


def test_crps_tends_to_the_normal_crps_and_has_finite_gradients():
    from keras_softplus.ops.normal import normal_crps

    y = np.array([[0.3], [-2.0], [4.0]])
    y_pred = np.array([[0.0, 1.5, 1e6], [1.0, 0.5, 1e6], [0.0, 1.0, 1e6]])
    np.testing.assert_allclose(
        student_t_crps(y, y_pred), normal_crps(y, y_pred[:, :2]), rtol=1e-5
    )
    variable = tf.Variable(np.array([[0.0, 1.0, 3.0], [0.0, EPS32, 2.5]], "float32"))
    with tf.GradientTape() as tape:
        crps = student_t_crps(np.array([[0.0], [1e4]], "float32"), variable)
    assert np.all(np.isfinite(tape.gradient(crps, variable).numpy()))
