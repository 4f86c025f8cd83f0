"""AdaptiveTest API, persistence/replay, CATConfig and the simulation harness."""

import dataclasses
import json

import numpy as np
import pytest

from engine import AdaptiveTest, Bank, CATConfig, simulate
from engine.irt import graded_category_probs


def random_bank(n, seed=0, areas=3):
    rng = np.random.default_rng(seed)
    return Bank(rng.lognormal(0, 0.3, n), rng.normal(0, 1, n), rng.uniform(0.05, 0.25, n),
                area=rng.integers(1, areas + 1, n))


BANK = random_bank(400, seed=10)


def answer(bank, item, theta, rng):
    if bank.is_graded[item]:
        k = int(bank.max_score[item])
        probs = graded_category_probs(theta, bank.a[item : item + 1], bank.thresholds[item : item + 1, :k])[0]
        return int(rng.choice(k + 1, p=probs))
    p = bank.c[item] + (bank.d[item] - bank.c[item]) / (1 + np.exp(-bank.a[item] * (theta - bank.b[item])))
    return int(rng.random() < p)


def run(session, bank, theta, rng, steps=None):
    taken = 0
    while (steps is None or taken < steps) and (item := session.next_item()) is not None:
        session.record(item, answer(bank, item, theta, rng))
        taken += 1
    return session


# ---------------------------------------------------------------- API behaviour


def test_pending_item_is_stable_until_recorded():
    session = AdaptiveTest(BANK, CATConfig(exposure="randomesque"), seed=3)
    first = session.next_item()
    assert session.next_item() == first == session.pending
    session.record(first, 1)
    assert session.administered == [first] and session.responses == [1]
    assert session.next_item() != first


def test_record_rejects_wrong_item_and_bad_scores():
    session = AdaptiveTest(BANK, CATConfig(), seed=0)
    with pytest.raises(ValueError, match="not the pending item"):
        session.record(0, 1)
    item = session.next_item()
    with pytest.raises(ValueError, match="not the pending item"):
        session.record(item + 1, 1)
    for bad in (2, -1, 0.5, "1"):
        with pytest.raises(ValueError, match="integer in 0..1"):
            session.record(item, bad)
    session.record(item, True)
    assert session.responses == [1]


def test_finished_session_reports_decision_and_refuses_answers():
    config = CATConfig(cut_score=0.0, se_target=None, min_length=3, max_length=3)
    session = AdaptiveTest(BANK, config, seed=1)
    assert session.decision is None and not session.finished
    for _ in range(3):
        item = session.next_item()
        assert session.decision is None
        session.record(item, 1)
    assert session.finished and session.stop_reason == "max_length"
    assert session.next_item() is None
    assert session.decision == "pass" and session.theta > 0
    with pytest.raises(ValueError, match="finished"):
        session.record(item, 1)


def test_decision_is_none_without_a_cut_score():
    session = run(AdaptiveTest(BANK, CATConfig(max_length=5, se_target=None), seed=1), BANK, 0.0,
                  np.random.default_rng(0))
    assert session.finished and session.decision is None


def test_small_bank_runs_out_of_items():
    bank = random_bank(6, seed=1)
    session = run(AdaptiveTest(bank, CATConfig(se_target=None, max_length=10), seed=0), bank, 0.0,
                  np.random.default_rng(0))
    assert session.stop_reason == "bank_exhausted" and sorted(session.administered) == list(range(6))


def test_seed_must_be_a_non_negative_integer():
    with pytest.raises(ValueError, match="seed"):
        AdaptiveTest(BANK, CATConfig(), seed=-1)


def test_se_shrinks_and_test_stops_at_target():
    session = AdaptiveTest(BANK, CATConfig(se_target=0.3, min_length=5), seed=2)
    ses = []
    rng = np.random.default_rng(2)
    while (item := session.next_item()) is not None:
        session.record(item, answer(BANK, item, 0.4, rng))
        ses.append(session.se)
    assert session.stop_reason == "se_target" and session.se <= 0.3 < ses[-2]
    assert ses[0] < 1.0


@pytest.mark.parametrize("estimator", ["map", "mle", "wle"])
def test_other_estimators_drive_a_session(estimator):
    config = CATConfig(estimator=estimator, se_target=0.35, min_length=5)
    session = run(AdaptiveTest(BANK, config, seed=4), BANK, 1.0, np.random.default_rng(4))
    assert session.finished and abs(session.theta - 1.0) < 1.2 and session.se < 0.6


def test_kl_selector_drives_a_session():
    config = CATConfig(selector="kl", se_target=0.35)
    session = run(AdaptiveTest(BANK, config, seed=4), BANK, -0.5, np.random.default_rng(4))
    assert session.stop_reason == "se_target" and abs(session.theta + 0.5) < 1.0


def test_area_scores_compare_observed_with_expected():
    session = run(AdaptiveTest(BANK, CATConfig(se_target=None, max_length=30), seed=5), BANK, 0.0,
                  np.random.default_rng(5))
    report = session.area_scores()
    assert sum(row["n_items"] for row in report) == 30
    assert {row["area"] for row in report} <= {1, 2, 3}
    for row in report:
        assert 0 <= row["proportion"] <= 1 and 0 < row["expected_proportion"] < 1
        assert row["difference"] == pytest.approx(row["proportion"] - row["expected_proportion"])
    json.dumps(report)


def test_mixed_bank_with_graded_items():
    rng = np.random.default_rng(6)
    n = 200
    graded = rng.random(n) < 0.3
    thresholds = np.full((n, 3), np.nan)
    thresholds[graded] = np.sort(rng.normal(0, 1, (graded.sum(), 3)), axis=1)
    bank = Bank(rng.uniform(0.8, 2.0, n), np.where(graded, np.nan, rng.normal(0, 1, n)), np.where(graded, 0, 0.15),
                area=rng.integers(1, 3, n), thresholds=thresholds)
    config = CATConfig(se_target=0.3, exposure="randomesque")
    errors = []
    saw_graded = False
    for seed, truth in enumerate(np.linspace(-1.5, 1.5, 12)):
        session = run(AdaptiveTest(bank, config, seed=seed), bank, truth, np.random.default_rng(seed))
        errors.append(session.theta - truth)
        saw_graded |= bool(bank.is_graded[session.administered].any())
    assert saw_graded
    assert np.sqrt(np.mean(np.square(errors))) < 0.45
    session = AdaptiveTest(bank, config, seed=0)
    while not bank.is_graded[item := session.next_item()]:
        session.record(item, 0)
    with pytest.raises(ValueError, match="0..3"):
        session.record(item, 4)
    session.record(item, 3)


# ---------------------------------------------------------------- persistence


@pytest.mark.parametrize(
    "config",
    [
        CATConfig(exposure="randomesque", randomesque_k=8),
        CATConfig(exposure="sympson_hetter", sympson_hetter_k=list(np.linspace(0.2, 1.0, 400))),
        CATConfig(estimator="wle", selector="kl", blueprint={1: (3, 10), 2: (3, 10)}, enemies=[[0, 1, 2]]),
        CATConfig(cut_score=0.2, classification="sprt", se_target=None),
    ],
    ids=["randomesque", "sympson_hetter", "wle_kl_blueprint", "sprt"],
)
def test_state_round_trip_reproduces_the_rest_of_the_test(config):
    for seed in (1, 2):
        rng_a = np.random.default_rng(seed)
        original = AdaptiveTest(BANK, config, seed=seed * 1000)
        run(original, BANK, 0.7, rng_a, steps=7)
        pending = original.next_item()
        state = json.loads(json.dumps(original.to_state()))
        restored_config = CATConfig.from_dict(json.loads(json.dumps(config.to_dict())))
        restored = AdaptiveTest.from_state(BANK, restored_config, state)
        assert restored.next_item() == pending
        assert (restored.theta, restored.se) == pytest.approx((original.theta, original.se))
        assert restored.set_aside == original.set_aside
        # the two copies continue identically
        rng_b = np.random.default_rng(99)
        rng_c = np.random.default_rng(99)
        run(original, BANK, 0.7, rng_b)
        run(restored, BANK, 0.7, rng_c)
        assert restored.administered == original.administered
        assert restored.to_state() == original.to_state()
        assert restored.decision == original.decision


@pytest.mark.parametrize(
    "config",
    [CATConfig(exposure="sympson_hetter", sympson_hetter_k=list(np.linspace(0.2, 1.0, 400)), se_target=0.3),
     CATConfig(estimator="wle", blueprint={1: (3, 10), 2: (3, 10)}, enemies=[[0, 1, 2]], cut_score=0.2,
               classification="sprt", se_target=None)],
    ids=["sympson_hetter", "wle_blueprint_sprt"],
)
def test_a_copy_goes_on_independently_and_exactly_as_the_original(config):
    original = run(AdaptiveTest(BANK, config, seed=5), BANK, 0.4, np.random.default_rng(5), steps=6)
    twin = original.copy()
    assert twin.to_state() == original.to_state() and twin.next_item() == original.next_item()
    # The copy's answers leave the original where it was: what a caller that takes back a record needs.
    before = (original.to_state(), original.theta, original.se, original.set_aside, original.sprt_log_ratio)
    run(twin, BANK, -1.5, np.random.default_rng(6))
    assert twin.finished and not original.finished
    assert (original.to_state(), original.theta, original.se, original.set_aside, original.sprt_log_ratio) == before
    # Given the same answers, the original, a new copy and a replay of the original's state end the same way.
    replayed = AdaptiveTest.from_state(BANK, config, original.to_state())
    copied = original.copy()
    for session in (replayed, copied, original):
        run(session, BANK, 1.0, np.random.default_rng(7))
    for session in (copied, original):
        assert session.to_state() == replayed.to_state() and session.decision == replayed.decision
        assert (session.theta, session.se, session.stop_reason) == (replayed.theta, replayed.se, replayed.stop_reason)


def test_replay_of_a_finished_session_is_finished():
    config = CATConfig(se_target=0.4)
    original = run(AdaptiveTest(BANK, config, seed=8), BANK, 0.0, np.random.default_rng(8))
    restored = AdaptiveTest.from_state(BANK, config, original.to_state())
    assert restored.finished and restored.stop_reason == original.stop_reason and restored.next_item() is None


def test_replay_detects_a_changed_configuration():
    original = run(AdaptiveTest(BANK, CATConfig(), seed=8), BANK, 0.0, np.random.default_rng(8), steps=5)
    changed = CATConfig(exposure="randomesque", randomesque_k=20)
    with pytest.raises(ValueError, match="replay diverged"):
        AdaptiveTest.from_state(BANK, changed, original.to_state())
    lenient = AdaptiveTest.from_state(BANK, changed, original.to_state(), strict=False)
    assert lenient.administered == original.administered


# ---------------------------------------------------------------- configuration


def test_config_round_trips_through_json():
    config = CATConfig(
        estimator="map", prior_mean=0.2, prior_sd=1.3, quadrature_points=41, selector="kl", exposure="randomesque",
        randomesque_k=4, se_target=0.25, min_length=10, max_length=50, cut_score=-0.3, classification="sprt",
        sprt_delta=0.15, blueprint={1: (2, 10), 3: (5, 20)}, enemies=[[4, 2], [7, 8, 9]],
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert data["blueprint"] == {"1": [2, 10], "3": [5, 20]}
    assert CATConfig.from_dict(data) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"estimator": "bayes"}, "estimator must be one of"),
        ({"selector": "random"}, "selector must be one of"),
        ({"exposure": "fancy"}, "exposure must be one of"),
        ({"prior_sd": 0}, "prior_sd must be > 0"),
        ({"min_length": 50, "max_length": 40}, "min_length .50. exceeds max_length .40."),
        ({"classification": "ci"}, "needs a cut_score"),
        ({"sprt_alpha": 0.7}, "sprt_alpha must lie in"),
        ({"blueprint": {"x": [1, 2]}}, "not an integer"),
        ({"blueprint": {"1": [3, 2]}}, "0 <= min <= max"),
        ({"enemies": [[1]]}, "at least two distinct"),
        ({"se_target": -0.1}, "se_target must be > 0"),
        ({"randomesque_k": 0}, "randomesque_k must be"),
        ({"sympson_hetter_k": [1.5]}, r"sympson_hetter_k values must lie in \[0, 1\]"),
        ({"quadrature_points": 5}, "quadrature_points must be"),
        ({"theta_min": 2.0, "theta_max": 1.0}, "theta_min"),
    ],
)
def test_config_validation_messages(changes, message):
    with pytest.raises(ValueError, match=message):
        CATConfig.from_dict({**CATConfig().to_dict(), **changes})


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown CAT config keys: \['se_traget'\]"):
        CATConfig.from_dict({"se_traget": 0.3})


def test_session_checks_config_against_bank():
    with pytest.raises(ValueError, match="outside the bank"):
        AdaptiveTest(BANK, CATConfig(enemies=[[1, 4000]]))
    with pytest.raises(ValueError, match="area 7 needs at least 2"):
        AdaptiveTest(BANK, CATConfig(blueprint={7: (2, 4)}))


# ---------------------------------------------------------------- simulation harness


def test_simulation_recovers_ability_with_se_target():
    bank = random_bank(1000, seed=12)
    config = CATConfig(se_target=0.3, min_length=5, max_length=40, exposure="randomesque")
    result = simulate(bank, config, n=400, seed=3)
    assert result["rmse"] < 0.4 and abs(result["bias"]) < 0.08
    assert result["mean_se"] <= 0.31
    assert 5 <= result["mean_length"] <= 40
    assert set(result["stop_reasons"]) <= {"se_target", "max_length"}
    assert len(result["exposure"]) == 1000 and result["max_exposure"] == max(result["exposure"])
    assert result["blueprint_violations"] == 0 and result["classification_accuracy"] is None
    json.dumps(result)


def test_simulation_classifies_against_the_cut():
    bank = random_bank(1000, seed=12)
    config = CATConfig(se_target=None, min_length=5, max_length=40, cut_score=0.0, classification="ci")
    result = simulate(bank, config, n=400, seed=3)
    assert result["classification_accuracy"] > 0.9
    assert 0.35 < result["pass_rate"] < 0.65
    assert result["stop_reasons"]["classification_ci"] > 250  # the rest sit near the cut and hit max length


def test_simulation_rmse_tracks_reported_se_with_known_truth():
    bank = random_bank(800, seed=13)
    config = CATConfig(se_target=None, min_length=30, max_length=30)
    truth = np.repeat([-1.0, 0.0, 1.0], 100)
    result = simulate(bank, config, n=300, seed=5, true_thetas=truth, details=True)
    assert result["true_theta"] == pytest.approx(truth.tolist())
    assert result["rmse"] == pytest.approx(result["mean_se"], rel=0.2)
    assert result["mean_length"] == 30 and result["stop_reasons"] == {"max_length": 300}


def test_simulation_is_reproducible_from_its_seed():
    config = CATConfig(exposure="randomesque", se_target=0.35)
    assert simulate(BANK, config, n=50, seed=4) == simulate(BANK, config, n=50, seed=4)
    assert simulate(BANK, config, n=50, seed=4)["rmse"] != simulate(BANK, config, n=50, seed=5)["rmse"]


def test_frozen_config_variants_via_replace():
    config = CATConfig()
    variant = dataclasses.replace(config, se_target=0.2)
    assert variant.se_target == 0.2 and config.se_target == 0.3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.se_target = 0.1


# ---------------------------------------------------------------- bank construction and caching


def test_bank_from_json_like_items():
    bank = Bank.from_items(
        [
            {"a": 1.2, "b": 0.3, "c": 0.2, "area": 4},
            {"a": 0.9, "b": -1.0},
            {"a": 1.1, "thresholds": [-1.0, 0.0, 1.2], "area": 2},
        ]
    )
    assert bank.n_items == 3
    assert bank.is_graded.tolist() == [False, False, True]
    assert bank.max_score.tolist() == [1, 1, 3]
    assert bank.area.tolist() == [4, 0, 2]
    assert bank.c.tolist() == [0.2, 0.0, 0.0]


def test_equal_content_shares_tables_and_plans():
    twin = random_bank(400, seed=10)
    assert twin is not BANK and twin.fingerprint == BANK.fingerprint
    assert twin.tables(61, (-4.0, 4.0)) is BANK.tables(61, (-4.0, 4.0))
    assert CATConfig.from_dict(CATConfig().to_dict()).fingerprint == CATConfig().fingerprint
    assert CATConfig(se_target=0.2).fingerprint != CATConfig().fingerprint
    assert random_bank(400, seed=11).fingerprint != BANK.fingerprint


def test_engine_imports_only_numpy_scipy_and_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    import engine

    allowed = {"numpy", "scipy"} | set(sys.stdlib_module_names)
    for path in Path(engine.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"
