"""Parameter recovery on simulated data with known (seeded) truth.

RMSE thresholds are about twice the sampling error expected at these sample
sizes, so a correct estimator passes with margin and a biased one fails.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import calibration as cal


def rmse(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.sqrt(np.mean((x[ok] - y[ok]) ** 2)))


def test_2pl_recovery():
    rng = np.random.default_rng(101)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=5000, rng=rng)
    res = cal.fit(data, "2PL")
    assert res.converged and not res.warnings
    assert rmse(res.a, tp["a"]) < 0.08
    assert rmse(res.b, tp["b"]) < 0.08
    # standard errors describe the actual estimation error
    z = (res.b - tp["b"]) / res.se_b
    assert 0.6 < np.std(z) < 1.5


def test_3pl_recovery_with_default_beta_prior():
    rng = np.random.default_rng(102)
    tp = cal.random_item_parameters(20, "3PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], tp["c"], n_persons=6000, rng=rng)
    res = cal.fit(data, "3PL")
    assert res.converged
    assert isinstance(res.priors["c"], cal.Beta) and res.priors["c"].alpha == 5
    assert rmse(res.a, tp["a"]) < 0.2
    assert rmse(res.b, tp["b"]) < 0.2
    assert rmse(res.c, tp["c"]) < 0.07
    assert np.all(np.isfinite(res.se_c)) and np.all(res.se_c > 0)
    item = res.to_dict()["items"][0]
    assert {"c", "se_c"} <= set(item)


def test_1pl_common_slope_and_rasch():
    rng = np.random.default_rng(103)
    tp = cal.random_item_parameters(25, "1PL", rng=rng)           # common a = 1.3
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=4000, rng=rng)
    one = cal.fit(data, "1PL")
    assert np.ptp(one.a) == 0 and one.a[0] == pytest.approx(1.3, abs=0.06)
    assert rmse(one.b, tp["b"]) < 0.06
    assert np.ptp(one.se_a) == 0 and one.se_a[0] > 0
    # Rasch (a = 1, theta ~ N(0,1)) on data whose latent SD is effectively 1.3:
    # difficulties come out on the a = 1 metric, b_rasch ~ 1.3 * b
    rasch = cal.fit(data, "Rasch")
    assert np.all(rasch.a == 1.0)
    assert rmse(rasch.b, 1.3 * tp["b"]) < 0.12
    assert rasch.log_likelihood < one.log_likelihood


def test_rasch_recovery():
    rng = np.random.default_rng(104)
    tp = cal.random_item_parameters(20, "Rasch", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, rng=rng)
    res = cal.fit(data, "Rasch")
    assert rmse(res.b, tp["b"]) < 0.07
    assert np.all(np.isnan(res.se_a) | (res.se_a == 0) | ~np.isfinite(res.se_a))


def test_graded_response_model_recovery():
    rng = np.random.default_rng(105)
    tp = cal.random_item_parameters(15, "GRM", n_categories=4, rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, rng=rng)
    res = cal.fit(data, "GRM")
    assert res.converged
    assert res.b.shape == (15, 3)
    assert rmse(res.a, tp["a"]) < 0.1
    assert rmse(res.b, tp["b"]) < 0.12
    assert np.all(np.diff(res.b, axis=1) > 0)                   # ordered thresholds
    item = json.loads(res.to_json())["items"][0]
    assert len(item["b"]) == 3 and len(item["se_b"]) == 3


def test_grm_with_items_of_different_lengths():
    rng = np.random.default_rng(106)
    a = rng.uniform(0.8, 2.0, 8)
    b = np.array([[-1.0, 0.0, 1.0], [-0.8, 0.4, 1.2], [-1.5, -0.3, 0.9], [-0.6, 0.3, 1.1]] * 2)
    data, _ = cal.simulate_responses(a, b, n_persons=2500, rng=rng)
    dense = data.dense()
    dense[:, 3] = np.minimum(dense[:, 3], 1)                    # item 4 dichotomous
    dense[:, 1] = np.minimum(dense[:, 1], 2)                    # item 2: three categories
    res = cal.fit(cal.ResponseData.from_dense(dense), "GRM")
    assert res.converged and not res.warnings
    assert res.n_categories.tolist()[:4] == [4, 3, 4, 2]
    assert np.isnan(res.b[3, 1]) and np.isnan(res.b[1, 2])
    assert res.to_dict()["items"][3]["n_categories"] == 2


def test_sparse_missing_data_recovery():
    """70% of cells missing at random: expected counts use observed responses only."""
    rng = np.random.default_rng(107)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=8000, missing=0.7, rng=rng)
    assert data.density == pytest.approx(0.3, abs=0.01)
    res = cal.fit(data, "2PL")
    assert res.converged
    assert 2000 < res.n_responses.min() < 2700
    assert rmse(res.a, tp["a"]) < 0.15
    assert rmse(res.b, tp["b"]) < 0.12
    # errors are as large as the standard errors say, no larger (no missing-data bias)
    assert rmse(res.a, tp["a"]) < 1.4 * np.sqrt(np.mean(res.se_a ** 2))
    assert rmse(res.b, tp["b"]) < 1.4 * np.sqrt(np.mean(res.se_b ** 2))
    assert abs(np.mean(res.b - tp["b"])) < 0.05


def test_adaptive_like_design_recovery():
    """Each person answers 12 of 60 items (CSR E-step path)."""
    rng = np.random.default_rng(108)
    tp = cal.random_item_parameters(60, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=15000, items_per_person=12, rng=rng)
    res = cal.fit(data, "2PL")
    assert res.converged
    assert rmse(res.a, tp["a"]) < 0.12
    assert rmse(res.b, tp["b"]) < 0.1


def test_long_format_and_class_form_give_the_same_fit():
    rng = np.random.default_rng(109)
    tp = cal.random_item_parameters(10, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=1500, missing=0.2, rng=rng)
    long = cal.ResponseData.from_long(data.person_idx, np.asarray(data.item_ids)[data.item_idx], data.score,
                                      item_ids=data.item_ids)
    est = cal.Calibrator(model="2PL", n_quadrature=31)
    res = est.fit(long)
    assert res is est.result_
    assert est.get_params()["n_quadrature"] == 31 and est.get_params()["se_method"] == "auto"
    direct = cal.fit(data.dense(), "2PL", n_quadrature=31)
    np.testing.assert_allclose(res.a, direct.a, atol=1e-8)
    np.testing.assert_allclose(res.se_b, direct.se_b, atol=1e-8)
    assert est.set_params(n_quadrature=41).n_quadrature == 41
    with pytest.raises(cal.CalibrationInputError, match="n_quad"):
        est.set_params(n_quad=41)


def test_priors_shrink_and_are_reported():
    rng = np.random.default_rng(110)
    tp = cal.random_item_parameters(10, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=300, rng=rng)
    free = cal.fit(data, "2PL")
    shrunk = cal.fit(data, "2PL", priors={"a": cal.LogNormal(0.0, 0.1), "b": ("normal", 0, 0.5)})
    assert np.abs(np.log(shrunk.a)).mean() < np.abs(np.log(free.a)).mean()
    assert np.abs(shrunk.b).mean() < np.abs(free.b).mean()
    assert shrunk.log_likelihood < free.log_likelihood             # posterior mode is not the ML
    assert "LogNormal" in shrunk.to_dict()["priors"]["a"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cal.CalibrationWarning)   # unconstrained c wanders high
        no_c_prior = cal.fit(data, "3PL", priors={"c": None}, max_iter=50)
    assert "c" not in no_c_prior.priors


def test_warnings_for_thin_and_degenerate_items():
    rng = np.random.default_rng(111)
    x = (rng.random((400, 6)) < 0.6).astype(float)
    x[:, 5] = 1.0                                                 # nobody fails item 6
    x[20:, 4] = np.nan                                            # item 5: 20 responses
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = cal.fit(cal.ResponseData.from_dense(x), "2PL", max_iter=200)
    codes = {(w.code, w.item) for w in res.warnings}
    assert ("few_responses", "item5") in codes
    assert ("no_variation", "item6") in codes
    assert ("extreme_estimate", "item6") in codes
    assert any(issubclass(w.category, cal.CalibrationWarning) for w in caught)
    out = res.to_dict()
    json.dumps(out)                                               # NaN-free, serialisable
    assert any(w["code"] == "few_responses" for w in out["warnings"])


def test_non_convergence_is_reported():
    rng = np.random.default_rng(112)
    tp = cal.random_item_parameters(8, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=500, rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cal.fit(data, "2PL", max_iter=3, accelerate=False)
    assert not res.converged and res.iterations == 3 and len(res.max_change) == 3
    assert any(w.code == "not_converged" for w in res.warnings)
    assert res.to_dict()["converged"] is False


def test_eap_scores_track_true_ability():
    rng = np.random.default_rng(113)
    tp = cal.random_item_parameters(40, "2PL", rng=rng)
    data, theta = cal.simulate_responses(tp["a"], tp["b"], n_persons=2000, rng=rng)
    res = cal.fit(data, "2PL")
    est, psd = res.eap(data)
    assert np.corrcoef(est, theta)[0, 1] > 0.93
    assert 0.15 < psd.mean() < 0.4
