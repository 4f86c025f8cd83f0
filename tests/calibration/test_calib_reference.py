"""Published reference values and exact numerical identities.

* LSAT-6 2PL (Bock & Lieberman 1970 data; published MML estimates, SEs, logL).
* Louis observed-information SEs equal the numerical Hessian of the marginal
  log-posterior (all models, priors, missing data, shared slope, fixed items).
* Mantel-Haenszel on Agresti's penicillin/rabbits table (R's mantelhaen.test
  example, documented p = 0.047).
* Lord-Wingersky recursion against brute-force enumeration.
"""

from __future__ import annotations

import itertools
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

import calibration as cal
from calibration import mml, mstep
from calibration.models import make_model
from calibration.problem import CalibrationProblem

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
LSAT = DATA / "lsat6.csv"

needs_lsat = pytest.mark.skipif(not LSAT.exists(), reason=f"reference data folder {DATA} is absent "
                                                          f"(it lives next to the repository, ../shared/data)")


@pytest.fixture(scope="module")
def lsat():
    data = cal.read_responses(LSAT)
    ref = json.loads((DATA / "lsat6_reference.json").read_text())
    return data, ref


@needs_lsat
def test_lsat6_2pl_reproduces_published_estimates(lsat):
    data, ref = lsat
    tol = ref["tolerance"]
    res = cal.fit(data, "2PL")
    assert res.converged
    assert res.se_method == "louis"
    np.testing.assert_allclose(res.a, ref["a"], atol=tol["a"])
    np.testing.assert_allclose(res.b, ref["b"], atol=tol["b"])
    assert abs(res.log_likelihood - ref["log_likelihood"]) <= tol["log_likelihood"]
    np.testing.assert_allclose(res.se_a, ref["se_a"], atol=tol["se"])
    np.testing.assert_allclose(res.se_b, ref["se_b"], atol=tol["se"])
    # in fact far tighter than the published tolerances
    np.testing.assert_allclose(res.se_a, ref["se_a"], atol=0.002)
    np.testing.assert_allclose(res.se_b, ref["se_b"], atol=0.005)
    out = json.loads(res.to_json())
    assert out["items"][0]["id"] == "item1" and set(out["items"][0]) >= {"a", "b", "se_a", "se_b"}
    assert "c" not in out["items"][0]


@needs_lsat
def test_lsat6_exact_optimum_and_quadrature_insensitivity(lsat):
    """README: direct maximisation gives these values with 21, 41 and 101 nodes."""
    data, _ = lsat
    exact_a = [0.8257, 0.7227, 0.8909, 0.6884, 0.6569]
    exact_b = [-3.3588, -1.3701, -0.2797, -1.8664, -3.1259]
    for n_q in (21, 41, 101):
        res = cal.fit(data, "2PL", n_quadrature=n_q, tol=1e-7, max_iter=2000)
        np.testing.assert_allclose(res.a, exact_a, atol=6e-4)
        np.testing.assert_allclose(res.b, exact_b, atol=6e-4)
        assert res.log_likelihood == pytest.approx(-2466.653, abs=2e-3)


@needs_lsat
def test_squarem_and_plain_em_reach_the_same_optimum(lsat):
    data, _ = lsat
    fast = cal.fit(data, "2PL", tol=1e-7, max_iter=5000)
    slow = cal.fit(data, "2PL", tol=1e-7, max_iter=5000, accelerate=False)
    assert fast.converged and slow.converged
    assert fast.iterations < slow.iterations
    np.testing.assert_allclose(fast.a, slow.a, atol=2e-4)
    np.testing.assert_allclose(fast.b, slow.b, atol=1e-3)
    assert fast.log_likelihood == pytest.approx(slow.log_likelihood, abs=1e-5)
    # EM log-likelihood never decreases
    assert np.all(np.diff(slow.loglik_history) > -1e-8)


# ---------------------------------------------------------------- Louis == numerical Hessian
def _numerical_se(res, data, fixed):
    """SEs from a central-difference Hessian of the marginal log-posterior."""
    problem = CalibrationProblem.build(data, res.model, n_categories=res.n_categories, priors=res.priors,
                                       fixed=fixed, n_quadrature=len(res.quadrature_nodes))
    mdl, quad, design = problem.model, problem.quad, problem.design
    idx = res.free_index
    free = idx >= 0
    assert np.array_equal(free, problem.free)
    theta = res.population_mean + res.population_sd * quad.z

    def lpost(x):
        p = res.params.copy()
        p[free] = x[idx[free]]
        _, _, ll = design.estep(mml.log_probs(mdl, p, theta), quad.log_w)
        return ll + mstep.log_prior(problem, p)

    n = idx.max() + 1
    x0 = np.zeros(n)
    x0[idx[free]] = res.params[free]
    h = 1e-4
    E = np.eye(n) * h
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (lpost(x0 + E[i] + E[j]) - lpost(x0 + E[i] - E[j])
                                 - lpost(x0 - E[i] + E[j]) + lpost(x0 - E[i] - E[j])) / (4 * h * h)
    return np.sqrt(np.diag(np.linalg.inv(-H)))


CASES = {
    "2PL": dict(model="2PL", n=800),
    "2PL-priors-missing": dict(model="2PL", n=800, missing=0.3,
                               priors={"a": cal.LogNormal(0, 0.5), "b": cal.Normal(0, 2)}),
    "3PL": dict(model="3PL", n=2000),
    "GRM-missing": dict(model="GRM", n=800, missing=0.2),
    "1PL-prior": dict(model="1PL", n=800, priors={"a": cal.LogNormal(0, 0.5)}),
    "Rasch": dict(model="Rasch", n=800),
    "2PL-fixed": dict(model="2PL", n=800, fixed=2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_louis_standard_errors_equal_numerical_hessian(case):
    spec = CASES[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    model = spec["model"]
    tp = cal.random_item_parameters(4 if model == "GRM" else 5, model, n_categories=4, rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], tp.get("c"), n_persons=spec["n"],
                                     missing=spec.get("missing", 0.0), rng=rng)
    fixed = None
    if spec.get("fixed"):
        fixed = {f"item{j + 1}": {"a": tp["a"][j], "b": tp["b"][j]} for j in range(spec["fixed"])}
    res = cal.fit(data, model, priors=spec.get("priors"), fixed=fixed, tol=1e-9, max_iter=5000,
                  se_method="louis")
    assert res.converged
    se_louis = np.sqrt(np.diag(res.covariance))
    np.testing.assert_allclose(se_louis, _numerical_se(res, data, fixed), rtol=2e-3)


def test_xpd_is_close_to_louis_on_a_larger_sample():
    rng = np.random.default_rng(21)
    tp = cal.random_item_parameters(10, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=4000, rng=rng)
    louis = cal.fit(data, "2PL", se_method="louis")
    xpd = cal.fit(data, "2PL", se_method="xpd")
    assert xpd.se_method == "xpd"
    np.testing.assert_allclose(xpd.se_a, louis.se_a, rtol=0.15)
    np.testing.assert_allclose(xpd.se_b, louis.se_b, rtol=0.15)


# ---------------------------------------------------------------- Mantel-Haenszel reference
def test_mantel_haenszel_penicillin_rabbits():
    """Agresti (1990) penicillin data, R's mantelhaen.test example: chi2 3.9286, p = 0.047.

    Strata = penicillin level; 'reference' = immediate injection, 'focal' = 1.5 h delay;
    right = cured. Hand computation: alpha_MH = (3*6/12 + 6*4/12) / (1*6/12) = 7.
    """
    A = [0, 3, 6, 5, 2]   # immediate, cured
    B = [6, 3, 0, 1, 0]   # immediate, died
    C = [0, 0, 2, 6, 5]   # delayed, cured
    D = [5, 6, 4, 0, 0]   # delayed, died
    st = cal.mh_statistics(A, B, C, D)
    assert st["chi2"] == pytest.approx(3.9286, abs=1e-4)
    assert st["p_value"] == pytest.approx(0.0475, abs=5e-4)
    assert st["alpha"] == pytest.approx(7.0)
    assert st["delta"] == pytest.approx(-2.35 * np.log(7.0))
    # without continuity correction: (16 - 13)^2 / 1.5909
    assert cal.mh_statistics(A, B, C, D, correct=False)["chi2"] == pytest.approx(9 / 1.590909, rel=1e-5)


def test_ets_categories():
    # |D| < 1 -> A; not significant -> A; |D| >= 1.5 and (|D| - 1)/SE > 1.645 -> C; else B
    cat = cal.dif.ets_category([0.5, -1.2, -1.2, 2.0, 2.0, 1.6, -1.6], [0.2, 0.2, 0.2, 0.2, 0.8, 0.4, 0.3],
                               [0.001, 0.001, 0.2, 1e-6, 0.01, 1e-4, 1e-4])
    assert cat.tolist() == ["A", "B", "A", "C", "B", "B", "C"]


# ---------------------------------------------------------------- Lord-Wingersky
def test_lord_wingersky_matches_enumeration():
    rng = np.random.default_rng(3)
    theta = np.linspace(-2, 2, 5)
    n_cat = np.array([2, 3, 2, 4])
    mdl = make_model("GRM", n_cat)
    params = np.zeros((4, 4))
    params[:, 0] = rng.uniform(0.5, 2, 4)
    for j, k in enumerate(n_cat):
        params[j, 1:k] = np.sort(rng.normal(0, 1, k - 1))[::-1]
    P = mdl.probs(params, theta)
    S = cal.lord_wingersky(P, n_cat)
    brute = np.zeros((int((n_cat - 1).sum()) + 1, len(theta)))
    for pattern in itertools.product(*[range(k) for k in n_cat]):
        brute[sum(pattern)] += np.prod([P[j, x] for j, x in enumerate(pattern)], axis=0)
    np.testing.assert_allclose(S, brute, atol=1e-14)
    np.testing.assert_allclose(S.sum(axis=0), 1.0)


# ---------------------------------------------------------------- the engine's item response functions
@pytest.mark.parametrize("model", ["2PL", "3PL", "GRM"])
def test_calibration_models_are_the_engines_curves(model):
    """The slope-intercept models the EM differentiates are engine.irt's curves with b = -d/a."""
    from engine import irt
    rng = np.random.default_rng(31)
    tp = cal.random_item_parameters(6, model, n_categories=4, rng=rng)
    mdl = make_model(model, np.full(6, 4 if model == "GRM" else 2))
    params = mdl.from_natural(tp["a"], tp["b"], tp.get("c"))
    theta = np.linspace(-4, 4, 17)
    P = mdl.probs(params, theta)                                          # (items, categories, nodes)
    if model == "GRM":
        expected = irt.graded_category_probs(theta, tp["a"], tp["b"])     # (nodes, items, categories)
        np.testing.assert_allclose(P, expected.transpose(1, 2, 0), atol=1e-12)
    else:
        expected = irt.logistic_prob(theta[:, None], tp["a"], tp["b"], tp.get("c", 0.0)).T
        np.testing.assert_allclose(P[:, 1], expected, atol=1e-12)
        np.testing.assert_allclose(P[:, 0], 1 - expected, atol=1e-12)
