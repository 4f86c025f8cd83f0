"""Item selection criteria and exposure control."""

import dataclasses
from collections import Counter

import numpy as np
import pytest

from engine import AdaptiveTest, Bank, CATConfig, derive_sympson_hetter, simulate
from engine.exposure import randomesque_choice, step_uniform, sympson_hetter_choice
from engine.selection import best_item, kl_scores, max_info_scores, top_k


def random_bank(n, seed=0, areas=1):
    rng = np.random.default_rng(seed)
    return Bank(rng.lognormal(0, 0.3, n), rng.normal(0, 1, n), rng.uniform(0.05, 0.25, n),
                area=rng.integers(1, areas + 1, n))


# ---------------------------------------------------------------- selection


def test_max_info_picks_the_rasch_item_whose_difficulty_is_nearest_theta():
    bank = Bank(a=np.ones(5), b=[-2.0, -1.0, 0.0, 1.0, 2.0])
    assert best_item(max_info_scores(bank, 0.9)) == 3
    assert best_item(max_info_scores(bank, -1.8)) == 0


def test_max_info_prefers_higher_discrimination_at_equal_distance():
    bank = Bank(a=[0.8, 2.0, 1.2], b=[0.0, 0.0, 0.0])
    assert best_item(max_info_scores(bank, 0.1)) == 1


def test_selection_respects_the_eligibility_mask():
    bank = Bank(a=[0.8, 2.0, 1.2], b=[0.0, 0.0, 0.0])
    info = max_info_scores(bank, 0.0)
    assert best_item(info, np.array([True, False, True])) == 2
    assert best_item(info, np.zeros(3, dtype=bool)) is None


def test_top_k_is_ordered_masked_and_consistent_between_strategies():
    rng = np.random.default_rng(4)
    scores = rng.random(500)
    eligible = rng.random(500) < 0.7
    small = top_k(scores, 10, eligible)
    large = top_k(scores, 60, eligible)
    expected = np.argsort(-np.where(eligible, scores, -np.inf))[:60]
    np.testing.assert_array_equal(large, expected)
    np.testing.assert_array_equal(small, expected[:10])
    untouched = scores.copy()
    top_k(untouched, 5)
    np.testing.assert_array_equal(untouched, scores)
    assert top_k(scores, 5, np.zeros(500, dtype=bool)).size == 0


def test_kl_index_prefers_an_informative_nearby_item():
    bank = Bank(a=[2.0, 2.0, 0.6], b=[0.0, 2.5, 0.0])
    kl = kl_scores(bank, 0.0, n_administered=4)
    assert np.all(kl >= 0)
    assert np.argmax(kl) == 0 and kl[0] > kl[1] and kl[0] > kl[2]


def test_kl_index_tends_to_fisher_information_times_delta_cubed_over_three():
    # KL(θ̂‖t) ≈ I(θ̂)(t−θ̂)²/2 near θ̂, so ∫_{−δ}^{δ} = I·δ³/3 as δ → 0
    bank = random_bank(50, seed=2)
    n = 10**6
    delta = 3.0 / np.sqrt(n)
    kl = kl_scores(bank, 0.4, n_administered=n)
    np.testing.assert_allclose(kl / (delta**3 / 3), bank.information(0.4), rtol=1e-3)


def test_kl_index_handles_graded_items():
    bank = Bank(a=[1.5, 1.5], b=[np.nan, 0.0], thresholds=[[-0.5, 0.5], [np.nan, np.nan]])
    kl = kl_scores(bank, 0.0, n_administered=1)
    assert np.all(np.isfinite(kl)) and np.all(kl > 0)
    assert kl[0] > kl[1]  # two thresholds around θ carry more information than one


# ---------------------------------------------------------------- randomness


def test_step_uniform_is_deterministic_and_uniform():
    draws = np.array([step_uniform(7, step) for step in range(20000)])
    assert step_uniform(7, 3) == step_uniform(7, 3)
    assert step_uniform(7, 3) != step_uniform(8, 3) != step_uniform(7, 3, 1)
    assert np.all((draws >= 0) & (draws < 1))
    counts = np.histogram(draws, bins=10, range=(0, 1))[0]
    chi2 = np.sum((counts - 2000) ** 2 / 2000)
    assert chi2 < 27.9  # 99.9% quantile of chi-square(9)


# ---------------------------------------------------------------- randomesque


def test_randomesque_choice_stays_within_the_top_k():
    scores = np.array([0.1, 0.9, 0.5, 0.8, 0.7, 0.2])
    picks = {randomesque_choice(scores, 3, u) for u in np.linspace(0, 0.999, 30)}
    assert picks == {1, 3, 4}
    assert randomesque_choice(scores, 3, 0.5, np.zeros(6, dtype=bool)) is None


def test_randomesque_spreads_first_items_evenly_over_the_top_k():
    bank = random_bank(300, seed=1)
    config = CATConfig(exposure="randomesque", randomesque_k=5)
    firsts = Counter(AdaptiveTest(bank, config, seed=s).next_item() for s in range(1000))
    top5 = set(top_k(bank.information(0.0), 5).tolist())
    assert set(firsts) == top5
    assert min(firsts.values()) > 150 and max(firsts.values()) < 250


# ---------------------------------------------------------------- Sympson–Hetter


def test_sympson_hetter_skips_items_with_zero_control_and_reports_them():
    scores = np.array([0.9, 0.8, 0.7])
    item, aside = sympson_hetter_choice(scores.copy(), np.array([0.0, 1.0, 1.0]), lambda draw: 0.5)
    assert (item, aside) == (1, [0])
    item, aside = sympson_hetter_choice(scores.copy(), np.array([1.0, 1.0, 1.0]), lambda draw: 0.99)
    assert (item, aside) == (0, [])
    item, aside = sympson_hetter_choice(scores.copy(), np.zeros(3), lambda draw: 0.0)
    assert item is None and sorted(aside) == [0, 1, 2]


def test_sympson_hetter_administers_with_probability_k():
    scores = np.array([1.0, 0.5])
    control = np.array([0.3, 1.0])
    picks = [sympson_hetter_choice(scores.copy(), control, lambda d, s=s: step_uniform(3, s, d))[0]
             for s in range(4000)]
    assert np.mean(np.array(picks) == 0) == pytest.approx(0.3, abs=0.03)


def test_derived_sympson_hetter_parameters_bring_max_exposure_under_target():
    bank = random_bank(400, seed=3)
    config = CATConfig(se_target=None, min_length=10, max_length=10)
    unconstrained = simulate(bank, config, n=300, seed=1)
    assert unconstrained["max_exposure"] > 0.8  # everyone starts on the same few items
    derived = derive_sympson_hetter(bank, config, r_max=0.2, n=400, seed=5, max_iter=20)
    noise = 3 * np.sqrt(0.2 * 0.8 / 400)
    assert derived["converged"] and derived["max_exposure"] <= 0.2 + noise
    assert min(derived["k"]) < 0.5 and max(derived["k"]) == 1.0
    controlled = dataclasses.replace(config, exposure="sympson_hetter", sympson_hetter_k=derived["k"])
    fresh = simulate(bank, controlled, n=400, seed=77)
    assert fresh["max_exposure"] <= 0.2 + noise
    assert fresh["rmse"] < unconstrained["rmse"] + 0.1


def test_sympson_hetter_requires_parameters_for_the_whole_bank():
    bank = random_bank(20)
    with pytest.raises(ValueError, match="derive_sympson_hetter"):
        AdaptiveTest(bank, CATConfig(exposure="sympson_hetter"))
    with pytest.raises(ValueError, match="20 items"):
        AdaptiveTest(bank, CATConfig(exposure="sympson_hetter", sympson_hetter_k=[1.0] * 19))


def test_blueprint_minimums_outrank_sympson_hetter_barring():
    """A small area that the blueprint requires, whose items exposure control rarely lets through:
    the items it sets aside come back when nothing else can satisfy the blueprint."""
    rng = np.random.default_rng(4)
    common, rare = 60, 4
    bank = Bank(a=np.r_[rng.uniform(0.8, 1.6, common), np.full(rare, 1.2)],
                b=np.r_[rng.normal(0, 1, common), np.linspace(-1, 1, rare)],
                area=np.r_[np.ones(common, dtype=int), np.full(rare, 2)])
    k = np.r_[np.ones(common), np.full(rare, 0.05)]  # the rare area's items are almost always set aside
    config = CATConfig(exposure="sympson_hetter", sympson_hetter_k=k.tolist(), blueprint={1: (0, 20), 2: (3, 4)},
                       min_length=10, max_length=12, se_target=None)
    for seed in range(200):
        session = AdaptiveTest(bank, config, seed=seed)
        theta = rng.normal()
        while (item := session.next_item()) is not None:
            session.record(item, int(rng.random() < bank.expected_score(theta, [item])[0]))
        taken = np.array(session.administered)
        assert (taken >= common).sum() >= 3, f"seed {seed}: blueprint minimum missed ({session.stop_reason})"
        assert session.stop_reason != "bank_exhausted"
        # Replaying the stored answers reaches the same state (resumed sittings stay consistent).
        replay = AdaptiveTest.from_state(bank, config, session.to_state())
        assert replay.administered == session.administered and replay.stop_reason == session.stop_reason
