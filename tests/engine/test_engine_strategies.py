"""Strategy registries: every registered strategy runs through its role's one signature; unknown names are refused."""

import dataclasses
import math

import numpy as np
import pytest

from engine import AdaptiveTest, Bank, CATConfig, derive_sympson_hetter
from engine.estimators import ESTIMATORS, ResponsePattern, eap, estimate
from engine.exposure import EXPOSURE_METHODS
from engine.registry import Registry
from engine.selection import SELECTORS, kl_scores
from engine.stopping import CLASSIFICATION_RULES, StopContext, stopping_rules

# The names exam configs (item_bank/content/exams/*.yaml) and the app use: they must keep working.
# Keyed by the CATConfig field that names the strategy (the registry's role).
CONFIG_NAMES = {
    "estimator": ["eap", "map", "mle", "wle"],
    "selector": ["max_info", "kl"],
    "exposure": ["none", "randomesque", "sympson_hetter"],
    "classification": ["none", "ci", "sprt"],
}
REGISTRIES = [ESTIMATORS, SELECTORS, EXPOSURE_METHODS, CLASSIFICATION_RULES]


def random_bank(n=60, seed=0, graded=False):
    rng = np.random.default_rng(seed)
    thresholds = None
    if graded:
        thresholds = np.where(rng.random(n)[:, None] < 0.3, np.sort(rng.normal(0, 1, (n, 2)), axis=1), np.nan)
    return Bank(rng.lognormal(0, 0.3, n), rng.normal(0, 1, n), rng.uniform(0.0, 0.2, n), area=rng.integers(1, 3, n),
                thresholds=thresholds)


def config_for(bank, **changes):
    config = CATConfig(**{"cut_score": 0.0, "max_length": 12, "min_length": 3, **changes})
    if config.exposure == "sympson_hetter":
        config = dataclasses.replace(config, sympson_hetter_k=[0.7] * bank.n_items)
    return config


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.role)
def test_registries_hold_exactly_the_config_names_in_order(registry):
    assert list(registry) == CONFIG_NAMES[registry.role]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.role)
def test_unknown_names_are_refused_with_the_valid_ones_listed(registry):
    valid = ", ".join(repr(name) for name in registry)
    with pytest.raises(ValueError, match=rf"{registry.role} must be one of \[{valid}\], got 'nope'"):
        registry.resolve("nope")
    with pytest.raises(ValueError, match=rf"{registry.role} must be one of"):
        registry.resolve(["not", "hashable"])
    with pytest.raises(ValueError, match=rf"{registry.role} must be one of \[{valid}\], got 'nope'"):
        CATConfig.from_dict({**CATConfig().to_dict(), registry.role: "nope"})


def test_unknown_estimator_name_is_refused_by_estimate():
    with pytest.raises(ValueError, match=r"estimator must be one of \['eap', 'map', 'mle', 'wle'\], got 'bayes'"):
        estimate("bayes", ResponsePattern())


def test_registry_is_a_read_only_mapping():
    registry = Registry("thing", {"a": 1, "b": 2})
    assert dict(registry) == {"a": 1, "b": 2} and "a" in registry and "c" not in registry and len(registry) == 2
    with pytest.raises(TypeError):
        registry["c"] = 3  # type: ignore[index]


@pytest.mark.parametrize("name", CONFIG_NAMES["estimator"])
def test_every_estimator_runs_through_the_common_signature(name):
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(0, 0.3, 12), rng.normal(0, 1, 12)
    pattern = ResponsePattern.dichotomous(rng.random(12) < 0.5, a, b)
    settings = (0.1, 1.2, 41, (-3.5, 3.5))
    theta, se = ESTIMATORS[name](pattern, *settings)
    assert -3.5 <= theta <= 3.5 and math.isfinite(se) and se > 0
    keywords = dict(zip(("prior_mean", "prior_sd", "n_points", "bounds"), settings, strict=True))
    assert ESTIMATORS[name](pattern, **keywords) == (theta, se) == estimate(name, pattern, *settings)
    # an empty pattern is answerable by every estimator (MLE/WLE fall back to EAP with the same settings)
    empty = ESTIMATORS[name](ResponsePattern(), *settings)
    assert empty == pytest.approx(eap(ResponsePattern(), *settings), abs=0.05)


@pytest.mark.parametrize("name", CONFIG_NAMES["selector"])
def test_every_selector_runs_through_the_common_signature(name):
    bank = random_bank(graded=True)
    config = config_for(bank, selector=name)
    tables = bank.tables(config.quadrature_points, (config.theta_min, config.theta_max))
    criterion = SELECTORS[name](bank, tables, config)
    out = np.full(bank.n_items, np.nan, dtype=np.float32)
    scratch = np.empty_like(out)
    criterion(0.4, 5, out, scratch)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    reference = bank.information(0.4) if name == "max_info" else kl_scores(bank, 0.4, 5, config.kl_delta)
    assert int(np.argmax(out)) == int(np.argmax(reference))


@pytest.mark.parametrize("name", CONFIG_NAMES["exposure"])
def test_every_exposure_control_runs_through_the_common_signature(name):
    bank = random_bank()
    choose = EXPOSURE_METHODS[name](bank, config_for(bank, exposure=name, randomesque_k=3))
    scores = bank.information(0.0)
    barred = np.zeros(bank.n_items, dtype=bool)
    item, set_aside = choose(scores.copy(), 7, 0, barred)
    assert item in set(np.argsort(-scores)[: 3 + len(set_aside)].tolist())
    assert item not in set_aside
    # nothing eligible: no item, whatever the method
    assert choose(np.full(bank.n_items, -np.inf), 7, 1, barred)[0] is None
    if name == "none":
        assert (item, tuple(set_aside)) == (int(np.argmax(scores)), ())


@pytest.mark.parametrize("name", CONFIG_NAMES["classification"])
def test_every_classification_rule_builds_and_checks_a_stop_context(name):
    config = CATConfig(cut_score=0.0, classification=name, se_target=None)
    rule = CLASSIFICATION_RULES[name](config)
    assert (rule is None) == (name == "none")
    assert stopping_rules(config) == (() if rule is None else (rule,))
    if rule is not None:
        decisive = StopContext(10, theta=2.0, se=0.2, sprt_log_ratio=10.0)
        assert rule.check(decisive) == rule.reason
        assert rule.check(StopContext(10, theta=0.0, se=1.0, sprt_log_ratio=0.0)) is None


@pytest.mark.parametrize("estimator", CONFIG_NAMES["estimator"])
@pytest.mark.parametrize("selector", CONFIG_NAMES["selector"])
@pytest.mark.parametrize("exposure", CONFIG_NAMES["exposure"])
@pytest.mark.parametrize("classification", CONFIG_NAMES["classification"])
def test_every_combination_runs_a_replayable_session(estimator, selector, exposure, classification):
    bank = random_bank(graded=exposure != "sympson_hetter")
    config = config_for(bank, estimator=estimator, selector=selector, exposure=exposure, classification=classification)
    session = AdaptiveTest(bank, config, seed=11)
    answers = np.random.default_rng(5)
    while (item := session.next_item()) is not None:
        session.record(item, int(answers.integers(0, bank.max_score[item] + 1)))
    assert session.finished and 3 <= len(session.administered) <= 12
    twin = AdaptiveTest.from_state(bank, config, session.to_state())
    assert (twin.administered, twin.theta, twin.se) == (session.administered, session.theta, session.se)


def test_session_eap_shortcut_matches_the_registered_estimator():
    bank = random_bank(graded=True)
    config = config_for(bank, estimator="eap", se_target=None, max_length=10)
    session = AdaptiveTest(bank, config, seed=2)
    answers = np.random.default_rng(1)
    while (item := session.next_item()) is not None:
        session.record(item, int(answers.integers(0, bank.max_score[item] + 1)))
    pattern = ResponsePattern.from_bank(bank, session.administered, session.responses)
    expected = ESTIMATORS["eap"](pattern, config.prior_mean, config.prior_sd, config.quadrature_points,
                                 (config.theta_min, config.theta_max))
    assert (session.theta, session.se) == pytest.approx(expected, abs=1e-9)


def test_sympson_hetter_parameters_are_still_checked_when_the_plan_is_built():
    bank = random_bank(20)
    with pytest.raises(ValueError, match="derive_sympson_hetter"):
        AdaptiveTest(bank, CATConfig(exposure="sympson_hetter"))
    derived = derive_sympson_hetter(bank, CATConfig(max_length=5), r_max=0.5, n=20, seed=0, max_iter=1)
    AdaptiveTest(bank, CATConfig(exposure="sympson_hetter", sympson_hetter_k=derived["k"], max_length=5)).next_item()
