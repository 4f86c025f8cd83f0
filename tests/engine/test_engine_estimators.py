"""Ability estimators: closed forms, recovery with known truth, fallbacks and properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from engine import irt
from engine.bank import Bank
from engine.estimators import GridPosterior, ResponsePattern, eap, estimate, map_estimate, mle, quadrature_grid, wle


def rasch_pattern(n, correct, a=1.3, b=0.4):
    scores = [1] * correct + [0] * (n - correct)
    return ResponsePattern.dichotomous(scores, a, b)


def logit(p):
    return math.log(p / (1 - p))


# ---------------------------------------------------------------- closed forms


def test_mle_for_identical_rasch_items_is_logit_of_proportion_correct():
    n, r, a, b = 10, 7, 1.3, 0.4
    theta, se = mle(rasch_pattern(n, r, a, b))
    assert theta == pytest.approx(b + logit(r / n) / a, abs=1e-6)
    p = r / n
    assert se == pytest.approx(1 / math.sqrt(n * a**2 * p * (1 - p)), rel=1e-5)


@pytest.mark.parametrize("r", [0, 3, 10])
def test_wle_for_identical_rasch_items_is_warm_closed_form(r):
    # Warm's score equation for n identical Rasch items: r + 1/2 = (n + 1) P(θ)
    n, a, b = 10, 1.3, 0.4
    theta, _ = wle(rasch_pattern(n, r, a, b))
    assert theta == pytest.approx(b + logit((r + 0.5) / (n + 1)) / a, abs=1e-5)


def test_map_solves_the_penalised_score_equation_and_shrinks_towards_prior():
    pattern = rasch_pattern(12, 10)
    theta, se = map_estimate(pattern, prior_mean=0.0, prior_sd=1.0)
    _, gradient, _, info, _ = pattern.derivatives(theta)
    assert gradient - theta == pytest.approx(0.0, abs=1e-6)
    assert se == pytest.approx(1 / math.sqrt(info + 1.0))
    assert 0 < theta < mle(pattern)[0]


def test_eap_matches_adaptive_quadrature_of_the_posterior():
    pattern = ResponsePattern.dichotomous([1, 0, 1, 1, 0], [1.0, 1.4, 0.8, 2.0, 1.1], [-1.0, 0.0, 0.5, 0.3, 1.2], 0.15)

    def posterior(t, power):
        return t**power * math.exp(float(pattern.log_likelihood(t)) - 0.5 * ((t - 0.3) / 1.2) ** 2)

    mass = integrate.quad(posterior, -4, 4, args=(0,))[0]
    mean = integrate.quad(posterior, -4, 4, args=(1,))[0] / mass
    second = integrate.quad(posterior, -4, 4, args=(2,))[0] / mass
    theta, se = eap(pattern, prior_mean=0.3, prior_sd=1.2, n_points=201)
    assert theta == pytest.approx(mean, abs=2e-3)
    assert se == pytest.approx(math.sqrt(second - mean**2), abs=2e-3)


def test_eap_without_answers_returns_the_prior():
    theta, se = eap(ResponsePattern(), prior_mean=0.5, prior_sd=0.8)
    assert theta == pytest.approx(0.5, abs=1e-4)  # not exact: the grid truncates the prior at ±4
    assert se == pytest.approx(0.8, abs=1e-3)


def test_incremental_grid_posterior_equals_batch_eap():
    rng = np.random.default_rng(1)
    a, b, c = rng.lognormal(0, 0.3, 30), rng.normal(0, 1, 30), rng.uniform(0, 0.25, 30)
    x = rng.integers(0, 2, 30)
    grid = quadrature_grid(61, (-4, 4))
    posterior = GridPosterior(grid, prior_mean=-0.2, prior_sd=1.1)
    for i in range(30):
        log_p, log_q = irt.logistic_log_prob(grid, a[i], b[i], c[i])
        posterior.add(log_p if x[i] else log_q)
    batch = eap(ResponsePattern.dichotomous(x, a, b, c), prior_mean=-0.2, prior_sd=1.1)
    assert posterior.estimate() == pytest.approx(batch, abs=1e-12)


# ---------------------------------------------------------------- fallbacks


@pytest.mark.parametrize("correct", [0, 8])
def test_mle_falls_back_to_eap_for_all_wrong_or_all_right(correct):
    pattern = rasch_pattern(8, correct)
    assert mle(pattern, prior_mean=0.0, prior_sd=1.0) == pytest.approx(eap(pattern, 0.0, 1.0))


def test_mle_falls_back_for_graded_items_all_in_top_category():
    pattern = ResponsePattern.graded([2, 3], [1.0, 1.5], [[-1.0, 0.0, np.nan], [-0.5, 0.5, 1.0]])
    assert pattern.extreme() == 1
    assert mle(pattern) == pytest.approx(eap(pattern))


def test_estimators_without_answers_return_prior():
    for name in ("eap", "map", "mle", "wle"):
        theta, se = estimate(name, ResponsePattern(), prior_mean=0.0, prior_sd=1.0)
        assert theta == pytest.approx(0.0, abs=1e-6)
        assert 0.99 < se <= 1.0


def test_mle_can_sit_on_the_bound_for_a_pathological_3pl_pattern():
    # right on the two hardest items, wrong on the easy ones: likelihood rises towards -inf under 3PL guessing
    pattern = ResponsePattern.dichotomous([0, 0, 0, 1, 1], 1.5, [-2.0, -1.5, -1.0, 2.5, 3.0], 0.25)
    theta, se = mle(pattern)
    assert -4.0 <= theta <= 4.0 and np.isfinite(se)


# ---------------------------------------------------------------- recovery by simulation


def simulate_fixed_test(rng, thetas, a, b, c):
    p = irt.logistic_prob(np.asarray(thetas)[:, None], a, b, c)
    return (rng.random(p.shape) < p).astype(int)


@pytest.mark.parametrize("name", ["eap", "map", "mle", "wle"])
def test_estimators_recover_theta_on_a_long_test(name):
    rng = np.random.default_rng(11)
    n_items = 80
    a = rng.uniform(1.0, 2.0, n_items)
    b = np.linspace(-2.5, 2.5, n_items)
    c = np.full(n_items, 0.1)
    truth = np.repeat(np.linspace(-1.5, 1.5, 7), 15)
    responses = simulate_fixed_test(rng, truth, a, b, c)
    estimates = np.array([estimate(name, ResponsePattern.dichotomous(x, a, b, c))[0] for x in responses])
    errors = estimates - truth
    assert abs(errors.mean()) < 0.06
    assert np.sqrt(np.mean(errors**2)) < 0.3
    for level in np.unique(truth):
        assert abs(errors[truth == level].mean()) < 0.2


def test_mle_standard_error_matches_empirical_spread():
    rng = np.random.default_rng(5)
    a, b = rng.uniform(1.0, 2.0, 60), np.linspace(-2, 2, 60)
    responses = simulate_fixed_test(rng, np.full(300, 0.5), a, b, 0.0)
    results = np.array([mle(ResponsePattern.dichotomous(x, a, b)) for x in responses])
    assert np.std(results[:, 0]) == pytest.approx(np.mean(results[:, 1]), rel=0.15)


def test_wle_removes_the_outward_bias_of_mle_on_a_short_test():
    # 20 Rasch items centred at 0, θ = 1: extreme patterns are ~0.2% likely, so MLE's
    # first-order outward bias (Lord 1983) shows and Warm's correction removes it.
    rng = np.random.default_rng(2)
    a, b = np.full(20, 1.0), np.linspace(-1.0, 1.0, 20)
    responses = simulate_fixed_test(rng, np.full(1000, 1.0), a, b, 0.0)
    mixed = [x for x in responses if 0 < x.sum() < 20]
    mle_bias = np.mean([mle(ResponsePattern.dichotomous(x, a, b))[0] for x in mixed]) - 1.0
    wle_bias = np.mean([wle(ResponsePattern.dichotomous(x, a, b))[0] for x in mixed]) - 1.0
    assert mle_bias > 0.03
    assert abs(wle_bias) < 0.02


@pytest.mark.parametrize("name", ["eap", "mle", "wle"])
def test_estimators_recover_theta_from_graded_items(name):
    rng = np.random.default_rng(8)
    n_items = 40
    a = rng.uniform(1.0, 2.0, n_items)
    thresholds = np.sort(rng.normal(0, 1.2, (n_items, 3)), axis=1)
    errors = []
    for truth in np.repeat([-1.0, 0.0, 1.0], 10):
        probs = irt.graded_category_probs(truth, a, thresholds)
        scores = (rng.random((n_items, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
        errors.append(estimate(name, ResponsePattern.graded(scores, a, thresholds))[0] - truth)
    assert np.sqrt(np.mean(np.square(errors))) < 0.35


def test_pattern_from_mixed_bank_combines_both_likelihoods():
    bank = Bank(a=[1.2, 1.0, 0.9], b=[0.0, np.nan, 0.5], c=[0.2, 0.0, 0.0],
                thresholds=[[np.nan, np.nan], [-1.0, 0.5], [np.nan, np.nan]])
    pattern = ResponsePattern.from_bank(bank, [0, 1, 2], [1, 2, 0])
    grid = np.linspace(-2, 2, 9)
    expected = (
        irt.logistic_log_likelihood(grid, [1, 0], [1.2, 0.9], [0.0, 0.5], [0.2, 0.0])
        + irt.graded_log_likelihood(grid, [2], [1.0], [[-1.0, 0.5]])
    )
    np.testing.assert_allclose(pattern.log_likelihood(grid), expected)


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_estimator_is_finite_for_any_response_pattern(data):
    n = data.draw(st.integers(1, 15))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.3, 3.0, n)
    b = rng.uniform(-3.5, 3.5, n)
    c = rng.uniform(0.0, 0.3, n) * data.draw(st.booleans())
    scores = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    pattern = ResponsePattern.dichotomous(scores, a, b, c)
    for name in ("eap", "map", "mle", "wle"):
        theta, se = estimate(name, pattern)
        assert -4.0 <= theta <= 4.0
        assert np.isfinite(se) and se > 0
