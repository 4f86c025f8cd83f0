"""Item fit (S-X2) and DIF (Mantel-Haenszel) on simulated data with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import calibration as cal


@pytest.fixture(scope="module")
def clean_2pl():
    rng = np.random.default_rng(301)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, rng=rng)
    return data, cal.fit(data, "2PL")


def test_s_x2_well_calibrated_items_have_roughly_uniform_p_values(clean_2pl):
    data, res = clean_2pl
    fitres = cal.s_x2(res, data)
    p = fitres.p_value
    assert np.all(np.isfinite(p)) and fitres.n_persons == 3000
    assert np.all((fitres.df > 5) & (fitres.df <= 27))           # J-1 score groups minus 2 params at most
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.mean(p < 0.05) <= 0.15
    assert not fitres.misfitting(alpha=0.001)
    out = fitres.to_dict()
    assert out["items"][0]["id"] == "item1" and "p_value" in out["items"][0]


def test_s_x2_flags_a_misfitting_item():
    """Item 1 has a lower asymptote of .35 and a steep slope; a 2PL cannot fit it."""
    rng = np.random.default_rng(302)
    tp = cal.random_item_parameters(20, "2PL", rng=rng)
    a, b, c = tp["a"].copy(), tp["b"].copy(), np.zeros(20)
    a[0], b[0], c[0] = 2.5, 0.5, 0.35
    data, _ = cal.simulate_responses(a, b, c, n_persons=4000, rng=rng)
    res = cal.fit(data, "2PL")
    fitres = cal.s_x2(res, data)
    assert fitres.p_value[0] < 1e-4
    assert np.median(fitres.p_value[1:]) > 0.2
    assert "item1" in fitres.misfitting(alpha=0.001)


def test_s_x2_graded_model_and_degrees_of_freedom():
    rng = np.random.default_rng(303)
    tp = cal.random_item_parameters(8, "GRM", n_categories=3, rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=2000, rng=rng)
    res = cal.fit(data, "GRM")
    fitres = cal.s_x2(res, data)
    # groups * (K - 1) - K estimated parameters, K = 3
    np.testing.assert_array_equal(fitres.df, fitres.n_groups * 2 - 3)
    assert np.mean(fitres.p_value < 0.05) <= 0.25


def test_s_x2_needs_complete_cases_or_an_item_block():
    rng = np.random.default_rng(304)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, items_per_person=10, rng=rng)
    res = cal.fit(data, "2PL", se_method="none")
    with pytest.raises(cal.CalibrationInputError, match="complete response vectors"):
        cal.s_x2(res, data)
    # a fixed block answered by everybody
    dense = data.dense()
    dense[:, :8] = (rng.random((3000, 8)) < 0.5)
    block = cal.ResponseData.from_dense(dense, item_ids=data.item_ids)
    fitres = cal.s_x2(res, block, items=[f"item{j}" for j in range(1, 9)])
    assert fitres.n_persons == 3000 and len(fitres.item_ids) == 8


def test_mantel_haenszel_detects_injected_dif_only():
    rng = np.random.default_rng(305)
    J, N = 25, 6000
    tp = cal.random_item_parameters(J, "2PL", rng=rng)
    group = np.where(np.arange(N) < N // 2, "ref", "foc")
    theta = rng.normal(size=N) - 0.4 * (group == "foc")        # impact: focal group lower on average
    b = np.tile(tp["b"], (N, 1))
    b[group == "foc", 6] += 0.9                                 # item 7 harder for the focal group
    x = (rng.random((N, J)) < 1 / (1 + np.exp(-tp["a"] * (theta[:, None] - b)))).astype(float)
    data = cal.ResponseData.from_dense(x)
    res = cal.mantel_haenszel(data, group, reference="ref", focal="foc")
    assert res.category[6] == "C" and res.delta[6] < -1.5 and res.p_value[6] < 1e-10
    others = np.delete(np.arange(J), 6)
    assert np.all(res.category[others] == "A")                  # impact alone is not DIF
    assert np.all(np.abs(res.delta[others]) < 1.0)
    out = res.to_dict()
    assert out["items"][6]["favours"] == "reference" and out["items"][6]["ets_category"] == "C"
    assert res.n_reference[0] == N // 2 and res.n_focal[0] == N // 2


def test_mantel_haenszel_with_external_strata_and_group_mapping():
    rng = np.random.default_rng(306)
    tp = cal.random_item_parameters(20, "2PL", rng=rng)
    data, theta = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, missing=0.5, rng=rng)
    groups = {pid: ("m" if i % 2 else "f") for i, pid in enumerate(data.person_ids)}
    with pytest.raises(cal.CalibrationInputError):
        cal.mantel_haenszel(data, groups, reference="f", focal="m", matching=theta)   # floats
    res = cal.fit(data, "2PL", se_method="none")
    eap, _ = res.eap(data)
    strata = np.digitize(eap, np.quantile(eap, np.linspace(0, 1, 11)[1:-1]))
    dif = cal.mantel_haenszel(data, groups, reference="f", focal="m", matching=strata)
    assert np.all(dif.category == "A")
    assert dif.n_reference.sum() + dif.n_focal.sum() == data.n_responses


def test_mantel_haenszel_rejects_polytomous_items():
    data = cal.ResponseData.from_dense([[0, 2], [1, 1], [1, 0]])
    with pytest.raises(cal.CalibrationInputError, match="dichotomous"):
        cal.mantel_haenszel(data, ["a", "b", "a"], reference="a", focal="b")
