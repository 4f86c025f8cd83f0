"""Linking (Stocking-Lord, fixed-parameter calibration) and parameter drift."""

from __future__ import annotations

import numpy as np
import pytest

import calibration as cal


def rmse(x, y):
    return float(np.sqrt(np.mean((np.asarray(x) - np.asarray(y)) ** 2)))


def bank_table(tp, ids=None, c=None):
    n = len(tp["a"])
    ids = ids if ids is not None else [f"item{j + 1}" for j in range(n)]
    out = {}
    for j, iid in enumerate(ids):
        rec = {"a": float(tp["a"][j]), "b": tp["b"][j].tolist() if np.ndim(tp["b"][j]) else float(tp["b"][j])}
        if c is not None:
            rec["c"] = float(c[j])
        out[iid] = rec
    return out


@pytest.mark.parametrize("model", ["2PL", "3PL", "GRM"])
def test_stocking_lord_recovers_an_exact_linear_transformation(model):
    rng = np.random.default_rng(401)
    tp = cal.random_item_parameters(12, model, rng=rng)
    base = bank_table(tp, c=tp.get("c"))
    A, B = 1.35, -0.6                             # theta_base = A theta_new + B
    new = {}
    for iid, rec in base.items():
        q = dict(rec)
        q["a"] = rec["a"] * A
        q["b"] = ((np.asarray(rec["b"]) - B) / A).tolist()
        new[iid] = q
    lk = cal.stocking_lord(new, base)
    assert lk.A == pytest.approx(A, abs=1e-4) and lk.B == pytest.approx(B, abs=1e-4)
    back = cal.transform_parameters(new, lk.A, lk.B)
    for iid in base:
        np.testing.assert_allclose(back[iid]["b"], base[iid]["b"], atol=1e-3)
        assert back[iid]["a"] == pytest.approx(base[iid]["a"], abs=1e-3)


def test_stocking_lord_on_estimated_parameters():
    """A new sample from N(0.5, 1.3^2) on the bank scale, calibrated freely (its own N(0,1))."""
    rng = np.random.default_rng(402)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    theta = rng.normal(0.5, 1.3, 5000)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], theta=theta, rng=rng)
    res = cal.fit(data, "2PL")
    lk = cal.stocking_lord(res, bank_table(tp))
    assert lk.A == pytest.approx(1.3, abs=0.06) and lk.B == pytest.approx(0.5, abs=0.06)
    ms = cal.mean_sigma(res, bank_table(tp))
    assert ms.A == pytest.approx(1.3, abs=0.15)
    linked = cal.apply_linking(res, lk)
    b_linked = np.array([linked[f"item{j + 1}"]["b"] for j in range(30)])
    assert rmse(b_linked, tp["b"]) < 0.08


def test_fixed_parameter_calibration_puts_new_items_on_the_bank_scale():
    rng = np.random.default_rng(403)
    tp = cal.random_item_parameters(40, "2PL", rng=rng)
    theta = rng.normal(0.6, 1.25, 6000)                       # the new sample is abler and more spread
    data, _ = cal.simulate_responses(tp["a"], tp["b"], theta=theta, rng=rng)
    anchors = {f"item{j + 1}": {"a": tp["a"][j], "b": tp["b"][j]} for j in range(20)}
    res = cal.fit(data, "2PL", fixed=anchors)
    assert res.converged
    assert res.population_mean == pytest.approx(0.6, abs=0.06)
    assert res.population_sd == pytest.approx(1.25, abs=0.06)
    np.testing.assert_allclose(res.a[:20], tp["a"][:20])      # anchors untouched
    assert np.all(np.isnan(res.se_a[:20])) and res.fixed[:20].all()
    assert rmse(res.a[20:], tp["a"][20:]) < 0.1
    assert rmse(res.b[20:], tp["b"][20:]) < 0.08
    # a free calibration of the same data is on the sample's own scale, visibly off
    free = cal.fit(data, "2PL", se_method="none")
    assert rmse(free.b[20:], tp["b"][20:]) > 0.3
    assert res.to_dict()["items"][0]["fixed"] is True


def test_fixed_parameter_calibration_3pl_and_grm():
    rng = np.random.default_rng(404)
    tp = cal.random_item_parameters(24, "3PL", rng=rng)
    theta = rng.normal(-0.4, 1.0, 6000)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], tp["c"], theta=theta, rng=rng)
    anchors = {f"item{j + 1}": {"a": tp["a"][j], "b": tp["b"][j], "c": tp["c"][j]} for j in range(12)}
    res = cal.fit(data, "3PL", fixed=anchors)
    assert res.population_mean == pytest.approx(-0.4, abs=0.08)
    assert rmse(res.b[12:], tp["b"][12:]) < 0.2
    np.testing.assert_allclose(res.c[:12], tp["c"][:12])

    tg = cal.random_item_parameters(10, "GRM", n_categories=3, rng=rng)
    data, _ = cal.simulate_responses(tg["a"], tg["b"], theta=rng.normal(0.5, 1, 3000), rng=rng)
    anchors = {f"item{j + 1}": {"a": tg["a"][j], "b": list(tg["b"][j])} for j in range(5)}
    res = cal.fit(data, "GRM", fixed=anchors)
    assert res.population_mean == pytest.approx(0.5, abs=0.1)
    assert rmse(res.b[5:], tg["b"][5:]) < 0.15
    with pytest.raises(cal.CalibrationInputError, match="thresholds"):
        cal.fit(data, "GRM", fixed={"item1": {"a": 1.0, "b": [0.0]}})


def test_drift_flags_only_the_moved_item():
    rng = np.random.default_rng(405)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    published = bank_table(tp)
    for rec in published.values():
        rec["se_a"], rec["se_b"] = 0.05, 0.05
    moved = dict(tp)
    moved["b"] = tp["b"].copy()
    moved["b"][4] += 0.8                                      # item5 became harder
    moved["a"] = tp["a"].copy()
    moved["a"][9] *= 0.45                                     # item10 lost discrimination
    theta = rng.normal(0.3, 1.2, 6000)
    data, _ = cal.simulate_responses(moved["a"], moved["b"], theta=theta, rng=rng)
    res = cal.fit(data, "2PL")
    report = cal.parameter_drift(res, published, z_threshold=3.0)
    assert set(report.flagged) == {"item5", "item10"}
    assert report.constants.A == pytest.approx(1.2, abs=0.08)
    assert "item5" not in report.constants.items              # purified linking excludes drifters
    rec5 = next(r for r in report.items if r["id"] == "item5")
    assert rec5["delta_b"] == pytest.approx(0.8, abs=0.2) and "b moved" in rec5["reason"]
    assert report.to_dict()["flagged"] == report.flagged
