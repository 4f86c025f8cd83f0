"""IRT model math against closed forms and numerical derivatives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import irt
from engine.bank import Bank

THETA = np.linspace(-3.5, 3.5, 29)


def numeric_derivative(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_1pl_probability_is_half_at_difficulty():
    assert irt.logistic_prob(0.7, 1.0, 0.7) == pytest.approx(0.5)


def test_3pl_probability_closed_form():
    a, b, c = 1.4, -0.3, 0.2
    expected = c + (1 - c) / (1 + np.exp(-a * (THETA - b)))
    np.testing.assert_allclose(irt.logistic_prob(THETA, a, b, c), expected, rtol=1e-12)


def test_2pl_information_is_a_squared_pq():
    a, b = 1.7, 0.4
    p = irt.logistic_prob(THETA, a, b)
    np.testing.assert_allclose(irt.logistic_information(THETA, a, b), a**2 * p * (1 - p), rtol=1e-10)


def test_3pl_information_matches_birnbaum_formula():
    a, b, c = 1.2, 0.5, 0.25
    p = irt.logistic_prob(THETA, a, b, c)
    birnbaum = a**2 * ((1 - p) / p) * ((p - c) / (1 - c)) ** 2
    np.testing.assert_allclose(irt.logistic_information(THETA, a, b, c), birnbaum, rtol=1e-10)


def test_4pl_information_equals_squared_slope_over_pq():
    a, b, c, d = 0.9, -0.6, 0.15, 0.92
    slope = numeric_derivative(lambda t: irt.logistic_prob(t, a, b, c, d), THETA)
    p = irt.logistic_prob(THETA, a, b, c, d)
    np.testing.assert_allclose(irt.logistic_information(THETA, a, b, c, d), slope**2 / (p * (1 - p)), rtol=1e-6)


def test_rasch_information_peaks_at_difficulty_with_quarter_a_squared():
    grid = np.linspace(-2, 2, 4001)
    info = irt.logistic_information(grid, 1.3, 0.25)
    assert grid[np.argmax(info)] == pytest.approx(0.25, abs=1e-3)
    assert info.max() == pytest.approx(1.3**2 / 4)


def test_broadcasting_theta_grid_by_items():
    a = np.array([0.8, 1.2, 2.0])
    b = np.array([-1.0, 0.0, 1.0])
    table = irt.logistic_information(THETA[:, None], a, b)
    assert table.shape == (THETA.size, 3)
    np.testing.assert_allclose(table[:, 1], irt.logistic_information(THETA, 1.2, 0.0))


def test_log_likelihood_sums_items_and_keeps_theta_shape():
    a, b, c = np.array([1.0, 1.5, 0.7]), np.array([-0.5, 0.2, 1.1]), np.array([0.0, 0.2, 0.1])
    x = np.array([1, 0, 1])
    p = irt.logistic_prob(THETA[:, None], a, b, c)
    expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    np.testing.assert_allclose(irt.logistic_log_likelihood(THETA, x, a, b, c), expected, rtol=1e-10)


def test_log_probabilities_stay_finite_far_in_the_tails():
    log_p, log_q = irt.logistic_log_prob(np.array([-60.0, 60.0]), 3.0, 0.0)
    assert np.all(np.isfinite(log_p)) and np.all(np.isfinite(log_q))
    assert log_p[0] == pytest.approx(-180.0)


def test_logistic_derivatives_match_finite_differences():
    a, b = np.array([1.1, 0.6, 2.0]), np.array([0.3, -1.0, 0.8])
    c, d = np.array([0.2, 0.0, 0.1]), np.array([1.0, 0.95, 0.9])
    x = np.array([1, 0, 1])
    theta = 0.37

    def ll(t):
        return irt.logistic_log_likelihood(t, x, a, b, c, d)

    value, first, second, info, j = irt.logistic_derivatives(theta, x, a, b, c, d)
    assert value.sum() == pytest.approx(ll(theta))
    assert first.sum() == pytest.approx(numeric_derivative(ll, theta), rel=1e-6)
    assert second.sum() == pytest.approx(numeric_derivative(lambda t: numeric_derivative(ll, t, 1e-4), theta, 1e-4),
                                         rel=1e-4)
    np.testing.assert_allclose(info, irt.logistic_information(theta, a, b, c, d), rtol=1e-10)
    p = lambda t: irt.logistic_prob(t, a, b, c, d)  # noqa: E731
    slope = numeric_derivative(p, theta)
    curvature = numeric_derivative(lambda t: numeric_derivative(p, t, 1e-4), theta, 1e-4)
    np.testing.assert_allclose(j, slope * curvature / (p(theta) * (1 - p(theta))), rtol=1e-4)


# ---------------------------------------------------------------- graded response model

A_G = np.array([1.3, 0.8, 2.1])
THRESH = np.array([[-1.0, 0.2, 1.5], [-0.5, 0.5, np.nan], [0.0, np.nan, np.nan]])


def test_graded_category_probabilities_sum_to_one_and_pad_with_zero():
    probs = irt.graded_category_probs(THETA, A_G, THRESH)
    assert probs.shape == (THETA.size, 3, 4)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(probs[:, 1, 3] == 0) and np.all(probs[:, 2, 2:] == 0)


def test_graded_item_with_one_threshold_is_a_2pl_item():
    probs = irt.graded_category_probs(THETA, np.array([1.7]), np.array([[0.4]]))[:, 0, :]
    np.testing.assert_allclose(probs[:, 1], irt.logistic_prob(THETA, 1.7, 0.4), rtol=1e-12)
    np.testing.assert_allclose(
        irt.graded_information(THETA, np.array([1.7]), np.array([[0.4]]))[:, 0],
        irt.logistic_information(THETA, 1.7, 0.4),
        rtol=1e-10,
    )


def test_graded_category_probability_matches_boundary_difference():
    star = irt.graded_boundary_probs(0.3, A_G[:1], THRESH[:1])[0]
    probs = irt.graded_category_probs(0.3, A_G[:1], THRESH[:1])[0]
    bounds = np.concatenate([[1.0], star, [0.0]])
    np.testing.assert_allclose(probs, bounds[:-1] - bounds[1:], atol=1e-15)


def test_graded_information_equals_expected_squared_score_and_negative_curvature():
    theta = 0.6
    a, thr = A_G[:1], THRESH[:1]
    info = irt.graded_information(theta, a, thr)[0]
    probs = irt.graded_category_probs(theta, a, thr)[0]
    scores_squared = []
    curvatures = []
    for k in range(4):
        _, first, second, info_k, _ = irt.graded_derivatives(theta, [k], a, thr)
        scores_squared.append(first[0] ** 2)
        curvatures.append(second[0])
        assert info_k[0] == pytest.approx(info)
    assert info == pytest.approx(np.dot(probs, scores_squared), rel=1e-10)
    assert info == pytest.approx(-np.dot(probs, curvatures), rel=1e-10)


def test_graded_log_likelihood_and_derivatives_match_finite_differences():
    x = np.array([2, 1, 0])

    def ll(t):
        return irt.graded_log_likelihood(t, x, A_G, THRESH)

    probs = irt.graded_category_probs(THETA, A_G, THRESH)
    expected = np.log(probs[:, [0, 1, 2], x]).sum(axis=1)
    np.testing.assert_allclose(ll(THETA), expected, rtol=1e-12)
    _, first, second, _, _ = irt.graded_derivatives(-0.2, x, A_G, THRESH)
    assert first.sum() == pytest.approx(numeric_derivative(ll, -0.2), rel=1e-6)
    assert second.sum() == pytest.approx(numeric_derivative(lambda t: numeric_derivative(ll, t, 1e-4), -0.2, 1e-4),
                                         rel=1e-4)


def test_bank_information_mixes_models_per_item():
    bank = Bank(a=[1.2, 1.3], b=[0.0, np.nan], c=[0.2, 0.0], thresholds=[[np.nan, np.nan], [-1.0, 0.5]])
    info = bank.information(THETA)
    np.testing.assert_allclose(info[:, 0], irt.logistic_information(THETA, 1.2, 0.0, 0.2))
    np.testing.assert_allclose(info[:, 1],
                               irt.graded_information(THETA, np.array([1.3]), np.array([[-1.0, 0.5]]))[:, 0])


def test_bank_interpolated_information_table_is_close_to_exact():
    rng = np.random.default_rng(3)
    bank = Bank(rng.lognormal(0, 0.3, 400), rng.normal(0, 1, 400), rng.uniform(0, 0.25, 400))
    tables = bank.tables(61, (-4.0, 4.0))
    out = np.empty(400, dtype=np.float32)
    scratch = np.empty_like(out)
    for theta in (-3.33, -0.517, 0.0, 1.234, 3.99):
        exact = bank.information(theta)
        approx = tables.information_at(theta, out, scratch)
        np.testing.assert_allclose(approx, exact, atol=2e-3 * exact.max())


def test_bank_rejects_bad_parameters():
    with pytest.raises(ValueError, match="c < d"):
        Bank(a=[1.0], b=[0.0], c=[0.6], d=[0.5])
    with pytest.raises(ValueError, match="discrimination"):
        Bank(a=[0.0], b=[0.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        Bank(a=[1.0], b=[np.nan], thresholds=[[0.5, -0.5]])


# ---------------------------------------------------------------- properties

params = st.tuples(
    st.floats(0.2, 3.0),
    st.floats(-3.0, 3.0),
    st.floats(0.0, 0.35),
    st.floats(0.8, 1.0),
    st.floats(-8.0, 8.0),
)


@settings(max_examples=200, deadline=None)
@given(params)
def test_probability_within_asymptotes_and_information_nonnegative(values):
    a, b, c, d, theta = values
    p = irt.logistic_prob(theta, a, b, c, d)
    assert c - 1e-12 <= p <= d + 1e-12
    info = irt.logistic_information(theta, a, b, c, d)
    assert np.isfinite(info) and info >= 0


@settings(max_examples=100, deadline=None)
@given(
    st.floats(0.2, 3.0),
    st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=5, unique=True),
    st.floats(-8.0, 8.0),
)
def test_graded_probabilities_valid_and_information_nonnegative(a, thresholds, theta):
    thresholds = np.sort(np.array(thresholds))
    if np.any(np.diff(thresholds) < 1e-6):
        thresholds = np.linspace(thresholds[0], thresholds[0] + len(thresholds), len(thresholds))
    probs = irt.graded_category_probs(theta, np.array([a]), thresholds[None, :])
    assert np.all(probs >= 0)
    assert probs.sum() == pytest.approx(1.0)
    info = irt.graded_information(theta, np.array([a]), thresholds[None, :])
    assert np.all(np.isfinite(info)) and np.all(info >= 0)


@given(st.floats(-6, 6), st.floats(0.2, 3), st.floats(-4, 4), st.floats(0, 0.35), st.floats(0.85, 1))
def test_the_one_item_probability_is_the_array_one(theta, a, b, c, d):
    assert irt.logistic_prob_one(theta, a, b, c, d) == pytest.approx(float(irt.logistic_prob(theta, a, b, c, d)),
                                                                    rel=1e-12, abs=1e-15)


def test_the_one_item_probability_survives_extreme_arguments():
    assert irt.logistic_prob_one(-1e6, 3.0, 0.0, 0.2, 1.0) == 0.2
    assert irt.logistic_prob_one(1e6, 3.0, 0.0, 0.2, 0.9) == pytest.approx(0.9)
