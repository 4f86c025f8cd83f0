"""Blueprint and enemy constraints, stopping rules and the pass/fail decision."""

import math

import numpy as np
import pytest

from engine import AdaptiveTest, Bank, CATConfig, simulate
from engine.constraints import Blueprint, EnemyIndex
from engine.selection import top_k
from engine.stopping import SPRT, ClassificationCI, MaxLength, MinLength, SETarget, StopContext, StoppingRule, decide


def random_bank(n, seed=0, areas=4):
    rng = np.random.default_rng(seed)
    return Bank(rng.lognormal(0, 0.3, n), rng.normal(0, 1, n), rng.uniform(0.05, 0.25, n),
                area=rng.integers(1, areas + 1, n))


# ---------------------------------------------------------------- blueprint


def test_blueprint_restricts_to_unmet_areas_only_when_slots_run_out():
    areas = np.array([1, 1, 2, 2, 3, 3, 9])
    blueprint = Blueprint(areas, {1: (1, 3), 2: (2, 3), 3: (0, 1)}, max_length=5)
    counts = blueprint.counts_for([0, 4])  # area 1 once, area 3 once
    assert blueprint.unmet(counts) == 2
    assert blueprint.restricted_slots(counts, n_administered=2) is None  # 3 slots left for 2 owed
    np.testing.assert_array_equal(blueprint.eligible_mask(counts, 2), [True, True, True, True, False, False, True])
    np.testing.assert_array_equal(blueprint.restricted_slots(counts, n_administered=3), [1])
    np.testing.assert_array_equal(blueprint.eligible_mask(counts, 3), [False, False, True, True, False, False, False])


def test_blueprint_detects_violations_and_infeasible_limits():
    areas = np.array([1, 1, 2])
    blueprint = Blueprint(areas, {1: (1, 2), 2: (1, 1)}, max_length=4)
    assert not blueprint.violated(np.array([2, 1]))
    assert blueprint.violated(np.array([0, 1])) and blueprint.violated(np.array([1, 2]))
    with pytest.raises(ValueError, match="bank has 1"):
        Blueprint(areas, {2: (2, 3)}, max_length=4).check_feasible()
    with pytest.raises(ValueError, match="blueprint minimums add up to 5"):
        CATConfig(min_length=2, max_length=4, blueprint={1: (2, 3), 2: (3, 3)})


@pytest.mark.parametrize("se_target", [0.3, None])
def test_blueprint_minimums_and_maximums_hold_in_every_simulated_test(se_target):
    bank = random_bank(600, seed=2)
    limits = {1: (3, 6), 2: (3, 6), 3: (2, 4), 4: (4, 8)}
    config = CATConfig(blueprint=limits, min_length=8, max_length=20, se_target=se_target, exposure="randomesque")
    result = simulate(bank, config, n=150, seed=3, details=True)
    assert result["blueprint_violations"] == 0
    for seed in range(40):
        session = AdaptiveTest(bank, config, seed=seed)
        rng = np.random.default_rng(seed)
        while (item := session.next_item()) is not None:
            session.record(item, int(rng.random() < 0.6))
        counts = {code: int(np.sum(bank.area[session.administered] == code)) for code in limits}
        assert all(limits[code][0] <= counts[code] <= limits[code][1] for code in limits), counts


def test_blueprint_minimum_is_filled_early_once_precision_is_reached():
    # area 2 holds only weak items: max-info would avoid it until forced at max length
    rng = np.random.default_rng(4)
    a = np.concatenate([rng.uniform(1.5, 2.5, 300), np.full(20, 0.4)])
    b = np.concatenate([rng.normal(0, 1, 300), rng.normal(0, 1, 20)])
    bank = Bank(a, b, area=np.array([1] * 300 + [2] * 20))
    config = CATConfig(blueprint={2: (3, 20)}, min_length=5, max_length=60, se_target=0.3)
    result = simulate(bank, config, n=60, seed=1)
    assert result["blueprint_violations"] == 0
    assert result["max_length"] < 40
    assert result["stop_reasons"] == {"se_target": 60}


# ---------------------------------------------------------------- enemies


def test_enemy_index_links_every_member_of_a_group():
    index = EnemyIndex([[0, 2, 5], [5, 7]], n_items=8)
    assert sorted(index.of(5).tolist()) == [0, 2, 7]
    assert index.of(1).size == 0
    with pytest.raises(ValueError, match="outside the bank"):
        EnemyIndex([[1, 99]], n_items=8)


def test_enemy_items_are_never_administered_together():
    bank = random_bank(300, seed=5, areas=1)
    best = top_k(bank.information(0.0), 12).tolist()
    groups = [best[0:4], best[4:8], best[8:12]]
    config = CATConfig(enemies=groups, exposure="randomesque", randomesque_k=3, max_length=25, se_target=None,
                       min_length=25)
    result = simulate(bank, config, n=200, seed=9, details=True)
    assert result["enemy_violations"] == 0
    for seed in range(30):
        session = AdaptiveTest(bank, config, seed=seed)
        while (item := session.next_item()) is not None:
            session.record(item, seed % 2)
        taken = set(session.administered)
        assert all(len(taken & set(group)) <= 1 for group in groups)


# ---------------------------------------------------------------- stopping rules


def ctx(n=10, theta=0.0, se=0.5, llr=0.0, met=True):
    return StopContext(n, theta, se, llr, met)


def test_simple_rules_fire_at_their_thresholds():
    assert SETarget(0.3).check(ctx(se=0.3)) == "se_target"
    assert SETarget(0.3).check(ctx(se=0.31)) is None
    assert MinLength(10).check(ctx(n=10)) == "min_length"
    assert MaxLength(11).check(ctx(n=10)) is None


def test_confidence_interval_rule_fires_only_when_the_interval_excludes_the_cut():
    rule = ClassificationCI(cut=0.0)
    assert rule.check(ctx(theta=1.0, se=0.5)) == "classification_ci"  # 1 - 0.98 > 0
    assert rule.check(ctx(theta=-1.0, se=0.5)) == "classification_ci"
    assert rule.check(ctx(theta=1.0, se=0.52)) is None  # 1 - 1.0192 < 0


def test_sprt_bounds_are_walds_and_decide_the_side():
    sprt = SPRT(cut=0.5, delta=0.25, alpha=0.05, beta=0.1)
    assert sprt.upper == pytest.approx(math.log(0.9 / 0.05))
    assert sprt.lower == pytest.approx(math.log(0.1 / 0.95))
    assert (sprt.theta_fail, sprt.theta_pass) == (0.25, 0.75)
    assert sprt.decision(3.0) == "pass" and sprt.decision(-2.3) == "fail" and sprt.decision(0.0) is None
    assert sprt.check(ctx(llr=3.0)) == "sprt"


def test_composite_rule_honours_min_length_max_length_and_blueprint():
    rule = StoppingRule(min_length=5, max_length=30, rules=(SETarget(0.3),))
    assert rule.check(ctx(n=4, se=0.1)) is None
    assert rule.check(ctx(n=5, se=0.1)) == "se_target"
    assert rule.check(ctx(n=5, se=0.1, met=False)) is None
    assert rule.check(ctx(n=29, se=0.9)) is None
    assert rule.check(ctx(n=30, se=0.9, met=False)) == "max_length"


def test_decision_uses_the_cut_unless_sprt_reached_a_boundary():
    assert decide(0.1, 0.0) == "pass" and decide(0.0, 0.0) == "pass" and decide(-0.1, 0.0) == "fail"
    assert decide(0.3, None) is None
    sprt = SPRT(cut=0.0)
    assert decide(0.3, 0.0, sprt, sprt_log_ratio=-5.0) == "fail"
    assert decide(0.3, 0.0, sprt, sprt_log_ratio=0.0) == "pass"


def test_classification_sessions_stop_with_the_interval_clear_of_the_cut():
    bank = random_bank(500, seed=6, areas=1)
    config = CATConfig(cut_score=0.5, classification="ci", se_target=None, min_length=5, max_length=50)
    for seed, truth in enumerate([-1.5, -0.5, 1.5, 2.0]):
        session = AdaptiveTest(bank, config, seed=seed)
        rng = np.random.default_rng(seed)
        while (item := session.next_item()) is not None:
            p = bank.c[item] + (1 - bank.c[item]) / (1 + np.exp(-bank.a[item] * (truth - bank.b[item])))
            session.record(item, int(rng.random() < p))
        assert session.stop_reason == "classification_ci"
        assert abs(session.theta - 0.5) > 1.96 * session.se
        assert session.decision == ("pass" if session.theta >= 0.5 else "fail")


def test_sprt_sessions_decide_by_the_likelihood_ratio():
    bank = random_bank(500, seed=7, areas=1)
    config = CATConfig(cut_score=0.0, classification="sprt", sprt_delta=0.3, se_target=None, min_length=1,
                       max_length=60)
    result = simulate(bank, config, n=200, seed=2, details=True)
    assert result["stop_reasons"].get("sprt", 0) > 150
    assert result["classification_accuracy"] > 0.85
    session = AdaptiveTest(bank, config, seed=1)
    while (item := session.next_item()) is not None:
        session.record(item, 1)
    assert session.stop_reason == "sprt" and session.decision == "pass"
    assert session.sprt_log_ratio >= SPRT(0.0, 0.3).upper
