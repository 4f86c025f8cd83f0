"""Public entry points: :func:`fit` and the estimator class :class:`Calibrator`."""

from __future__ import annotations

import os
import time
import warnings as _warnings
from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np

from .data import ResponseData, count_values, read_responses
from .errors import CalibrationInputError, CalibrationWarning
from .mml import Design, Quadrature, free_index, observed_information, run_em
from .models import Beta, make_model, parse_prior, resolve_model
from .result import CalibrationIssue, CalibrationResult

__all__ = ["fit", "Calibrator", "default_priors"]


@contextmanager
def blas_threads(n: int | None):
    """Limit BLAS threads while calibrating (no-op without threadpoolctl or with n=None).

    The matrix products here are skinny (persons x a few hundred columns x ~41
    nodes); multi-threaded OpenBLAS gains little on them and, when another
    process holds a core, its spin-waiting made fits 2-10x slower in tests.
    """
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


_blas_limit = blas_threads


def default_priors(model: str) -> dict:
    """3PL: Beta(5, 17) on c (BILOG-style, 5-option items); other models: none."""
    return {"c": Beta(5.0, 17.0)} if resolve_model(model) == "3PL" else {}


def _as_response_data(responses) -> ResponseData:
    if isinstance(responses, ResponseData):
        return responses
    if isinstance(responses, (str, os.PathLike)):
        return read_responses(responses)
    return ResponseData.from_dense(responses)


def _categories(data: ResponseData, model: str, n_categories) -> np.ndarray:
    """Number of categories per item; scores outside them are input errors."""
    J = data.n_items
    if model in ("1PL", "RASCH", "2PL", "3PL"):
        n_cat = np.full(J, 2)
    elif n_categories is None:
        n_cat = np.maximum(data.max_scores() + 1, 2)
    elif isinstance(n_categories, Mapping):
        n_cat = np.maximum(data.max_scores() + 1, 2)
        for iid, k in n_categories.items():
            n_cat[data.item_index(iid)] = int(k)
    else:
        n_cat = np.broadcast_to(np.asarray(n_categories, dtype=np.int64), (J,)).copy()
    if np.any(n_cat < 2):
        raise CalibrationInputError("every item needs at least 2 score categories")
    top = data.max_scores() if model == "GRM" else np.full(J, int(data.score.max()))
    if np.any(top >= n_cat):                  # only now look for the offending cell
        over = data.score >= n_cat[data.item_idx]
        k = int(np.nonzero(over)[0][0])
        allowed = "0 or 1" if model != "GRM" else f"0..{n_cat[data.item_idx[k]] - 1}"
        raise CalibrationInputError(
            f"{data.locate(k)}: score {data.score[k]} is outside the {model} model's categories "
            f"({allowed})" + ("; use model='GRM' for polytomous items" if model != "GRM" else ""))
    return n_cat


def category_counts(data: ResponseData, k_max: int) -> np.ndarray:
    """Responses per item and category, (J, K); one pass per category, no big temporaries."""
    J = data.n_items
    out = np.zeros((J, k_max), dtype=np.int64)
    total = data.item_counts()
    for m in range(1, k_max):
        out[:, m] = count_values(data.item_idx[data.score == m], J)
    out[:, 0] = total - out[:, 1:].sum(axis=1)
    return out


def _cumulative_proportions(data: ResponseData, n_cat: np.ndarray) -> np.ndarray:
    """Observed P(X >= m) per item, m = 1..K-1 (start values)."""
    counts = category_counts(data, int(n_cat.max()))
    tail = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    return tail[:, 1:] / counts.sum(axis=1, keepdims=True)


def _merge_priors(model: str, priors) -> dict:
    merged = default_priors(model)
    if priors:
        for key, spec in dict(priors).items():
            if key not in ("a", "b", "c", "d"):
                raise CalibrationInputError(f"priors: unknown parameter {key!r} (use a, b, c or d)")
            merged[key] = parse_prior(spec)
    return {k: v for k, v in merged.items() if v is not None}


def _fixed_params(fixed, data: ResponseData, model, name: str):
    """Validate ``fixed`` and convert it to slope-intercept parameter rows."""
    rows = {}
    for iid, spec in dict(fixed).items():
        j = data.item_index(iid)
        if not isinstance(spec, Mapping) or "b" not in spec:
            raise CalibrationInputError(f"fixed['{iid}'] must be a mapping with at least 'b' (and 'a', 'c')")
        a = float(spec.get("a", 1.0))
        if name == "2PL" or name == "3PL" or name == "GRM":
            if "a" not in spec:
                raise CalibrationInputError(f"fixed['{iid}']: missing 'a'")
        b = np.atleast_1d(np.asarray(spec["b"], dtype=float))
        if name == "GRM" and len(b) != model.n_cat[j] - 1:
            raise CalibrationInputError(
                f"fixed['{iid}']: {len(b)} thresholds given, item has {model.n_cat[j]} categories")
        c = float(spec.get("c", 0.0))
        row = model.from_natural(np.array([a]), b[None, :] if name == "GRM" else b,
                                 np.array([c]) if name == "3PL" else None)[0]
        rows[j] = row
    return rows


def fit(responses, model: str = "2PL", *, n_quadrature: int = 41, priors: Mapping | None = None,
        max_iter: int = 500, tol: float = 1e-4, fixed: Mapping | None = None,
        backend: str = "native", n_categories=None, se_method: str = "auto",
        estimate_population: bool | None = None, min_responses: int = 50,
        quadrature_bound: float = 6.0, accelerate: bool = True,
        blas_threads: int | None = 1) -> CalibrationResult:
    """Calibrate item parameters by marginal maximum likelihood (EM, Bock-Aitkin).

    responses: ResponseData, dense persons x items array (NaN = not presented) or a path.
    model: "1PL" (one common slope estimated, theta ~ N(0,1); equivalent to a Rasch
        model with a free ability SD), "Rasch" (slope fixed at 1), "2PL", "3PL", "GRM".
    priors: {"a": LogNormal(..), "b": Normal(..), "c": Beta(..), "d": Normal(..)};
        merged over the defaults (3PL: c ~ Beta(5, 17)); a value of None removes a prior.
    fixed: {item_id: {"a", "b", "c"}} held at bank values; the ability mean and SD are
        then estimated so that the free items land on the bank scale.
    se_method: "louis" (exact observed information), "xpd" (cross-product), "auto"
        (Louis unless too costly) or "none".
    backend: "native" or "girth" (see :mod:`calibration.girth_backend`).
    max_iter: maximum number of E-steps (``iterations`` on the result counts E-steps).
    tol: convergence when the largest change of any free parameter (slope-intercept
        form, plus ability mean/SD when estimated) over one EM step is below it.
    accelerate: SQUAREM extrapolation of the EM map (same optimum, ~3-5x fewer E-steps;
        ``loglik_history`` is then not monotone step by step, the accepted points are).
    min_responses: items with fewer responses get a "few_responses" warning.
    blas_threads: BLAS threads during the fit (see :func:`blas_threads`); None = leave as is.
    """
    t0 = time.perf_counter()
    name = resolve_model(model)
    data = _as_response_data(responses)
    if backend == "girth":
        from .girth_backend import fit_girth
        return fit_girth(data, name, n_quadrature=n_quadrature, max_iter=max_iter, fixed=fixed,
                         priors=priors, n_categories=n_categories, se_method=se_method,
                         min_responses=min_responses, quadrature_bound=quadrature_bound)
    if backend != "native":
        raise CalibrationInputError(f"unknown backend {backend!r} (use 'native' or 'girth')")
    if se_method not in ("auto", "louis", "xpd", "none"):
        raise CalibrationInputError(f"unknown se_method {se_method!r}")
    if max_iter < 1 or tol <= 0:
        raise CalibrationInputError("max_iter must be >= 1 and tol > 0")
    n_cat = _categories(data, name, n_categories)
    mdl = make_model(name, n_cat)
    prior_map = _merge_priors(name, priors)
    shared_a = name == "1PL"
    a_prior = prior_map.get("a") if shared_a else None
    issues: list[CalibrationIssue] = []

    params = mdl.start(_cumulative_proportions(data, n_cat))
    free = mdl.param_mask()
    if name == "RASCH":
        free[:, 0] = False
    fixed_rows = _fixed_params(fixed, data, mdl, name) if fixed else {}
    is_fixed = np.zeros(data.n_items, dtype=bool)
    for j, row in fixed_rows.items():
        params[j] = row
        free[j] = False
        is_fixed[j] = True
    if estimate_population is None:
        estimate_population = bool(fixed_rows)
    if estimate_population and not fixed_rows:
        raise CalibrationInputError("estimate_population needs fixed (anchor) items to identify the scale")

    quad = Quadrature(n_quadrature, quadrature_bound)
    design = Design(data, n_cat, len(quad.z))
    state = run_em(design, mdl, params, free, quad, prior_map, max_iter=max_iter, tol=tol,
                   shared_a=shared_a, a_prior=a_prior, estimate_population=estimate_population,
                   accelerate=accelerate)

    result = finalize(data, name, mdl, state, free, is_fixed, n_cat, quad, design, prior_map,
                      se_method, issues, min_responses, tol, shared_a, a_prior, backend="native")
    result.seconds = time.perf_counter() - t0
    for w in result.warnings:
        _warnings.warn(w.message, CalibrationWarning, stacklevel=2)
    return result


def finalize(data, name, mdl, state, free, is_fixed, n_cat, quad, design, prior_map, se_method,
             issues, min_responses, tol, shared_a, a_prior, backend) -> CalibrationResult:
    """Standard errors and diagnostics for converged (or externally estimated) parameters."""
    cov_full = None
    idx = None
    used = "none"
    if se_method != "none":
        info, used, idx = observed_information(design, mdl, state.params, free, quad, state.mu,
                                               state.sigma, prior_map, shared_a, a_prior, se_method)
        if info.size and not np.all(np.isfinite(info)):
            issues.append(CalibrationIssue(
                "information_not_finite",
                "the observed information could not be computed (non-finite values); no standard errors"))
        elif info.size:
            ev = np.linalg.eigvalsh(info)
            if ev[0] <= 1e-10 * max(ev[-1], 1e-300):
                issues.append(CalibrationIssue(
                    "information_singular",
                    "observed information is not positive definite (weakly identified parameters); "
                    "standard errors from a pseudo-inverse are unreliable"))
                cov_full = np.linalg.pinv(info)
            else:
                cov_full = np.linalg.inv(info)
    result = _build_result(name, data, mdl, state, free, is_fixed, n_cat, cov_full, idx, used,
                           quad, prior_map, issues, min_responses, tol, design)
    result.backend = backend
    return result


def _build_result(name, data, mdl, state, free, is_fixed, n_cat, cov, idx, se_method, quad,
                  prior_map, issues, min_responses, tol, design) -> CalibrationResult:
    params = state.params
    J, p = params.shape
    nat = mdl.to_natural(params)
    a, b, d = nat["a"], nat["b"], nat["d"]
    c = nat.get("c")
    var = np.full((J, p), np.nan)
    cov_ad = np.full((J, p), np.nan)        # cov(a, param k)
    if cov is not None:
        dg = np.diag(cov)
        ok = idx >= 0
        var[ok] = np.maximum(dg[idx[ok]], 0.0)
        a_idx = idx[:, 0]
        for k in range(p):
            both = ok[:, k] & (a_idx >= 0)
            cov_ad[both, k] = cov[a_idx[both], idx[both, k]]
    se = np.sqrt(var)
    se_a = se[:, 0]
    if name == "3PL":
        d_cols = [1]
        se_c = se[:, 2]
    else:
        d_cols = list(range(1, p))
        se_c = None
    dd = params[:, d_cols]
    var_d = var[:, d_cols]
    var_a = var[:, 0:1]
    cad = np.where(np.isnan(cov_ad[:, d_cols]), 0.0, cov_ad[:, d_cols])
    aa = params[:, 0:1]
    with np.errstate(divide="ignore", invalid="ignore"):
        # b = -d/a: var(b) = (d/a^2)^2 var(a) + var(d)/a^2 - 2 d/a^3 cov(a, d)
        va = np.where(np.isnan(var_a), 0.0, var_a)
        var_b = (dd / aa ** 2) ** 2 * va + var_d / aa ** 2 - 2 * dd / aa ** 3 * cad
    se_b = np.sqrt(np.maximum(var_b, 0.0))
    se_d = np.sqrt(var_d)
    if name != "GRM":
        b, d, se_b, se_d = b[:, 0], d[:, 0], se_b[:, 0], se_d[:, 0]
    else:
        mask = mdl.param_mask()[:, 1:]
        se_b = np.where(mask, se_b, np.nan)
        se_d = np.where(mask, se_d, np.nan)
    n_resp = data.item_counts()

    # diagnostics --------------------------------------------------------------
    ids = list(data.item_ids)
    if state.converged is False:
        slow = np.nonzero((state.item_change if state.item_change is not None else np.zeros(J)) >= tol)[0]
        names = ", ".join(ids[j] for j in slow[:10]) or "population parameters"
        issues.append(CalibrationIssue(
            "not_converged", f"EM did not converge in {state.iterations} iterations "
                             f"(last max change {state.max_change[-1]:.2e}); still moving: {names}"))
        for j in slow:
            issues.append(CalibrationIssue("item_not_converged",
                                           f"item '{ids[j]}' estimates still changing "
                                           f"({state.item_change[j]:.2e}) at the last iteration", ids[j]))
    if state.mstep_failures is not None:
        for j in np.nonzero(state.mstep_failures)[0]:
            issues.append(CalibrationIssue("mstep_failed", f"item '{ids[j]}': M-step found no improving "
                                                           f"step in the last iteration", ids[j]))
    for j in np.nonzero((n_resp < min_responses) & ~is_fixed)[0]:
        issues.append(CalibrationIssue("few_responses", f"item '{ids[j]}' has only {n_resp[j]} responses "
                                                        f"(< {min_responses}); estimates are unstable", ids[j]))
    counts = category_counts(data, int(n_cat.max()))
    for j in np.nonzero(~is_fixed)[0]:
        seen = counts[j, : n_cat[j]] > 0
        if seen.sum() < 2:
            issues.append(CalibrationIssue("no_variation", f"item '{ids[j]}': every response is in the same "
                                                           f"category; its parameters are not identified", ids[j]))
        elif not seen.all():
            miss = [int(k) for k in np.nonzero(~seen)[0]]
            issues.append(CalibrationIssue("empty_category", f"item '{ids[j]}': categories {miss} never "
                                                             f"observed; adjacent thresholds are not identified", ids[j]))
    bb = np.atleast_2d(b.T).T if b.ndim == 1 else b
    for j in np.nonzero(~is_fixed)[0]:
        msgs = []
        if a[j] <= 0:
            msgs.append(f"non-positive discrimination a={a[j]:.3f}")
        elif name in ("2PL", "3PL", "GRM") and (a[j] < 0.2 or a[j] > 5.0):
            msgs.append(f"extreme discrimination a={a[j]:.3f}")
        bj = bb[j][np.isfinite(bb[j])]
        if len(bj) and np.abs(bj).max() > 6.0:
            msgs.append(f"extreme difficulty b={bj[np.argmax(np.abs(bj))]:.2f}")
        if c is not None and c[j] > 0.5:
            msgs.append(f"high lower asymptote c={c[j]:.3f}")
        if msgs:
            issues.append(CalibrationIssue("extreme_estimate", f"item '{ids[j]}': " + "; ".join(msgs), ids[j]))

    return CalibrationResult(
        model=name, item_ids=ids, params=params, n_categories=n_cat, a=a, b=b, d=d, c=c,
        se_a=se_a, se_b=se_b, se_d=se_d, se_c=se_c, fixed=is_fixed, n_responses=n_resp,
        log_likelihood=state.log_likelihood, iterations=state.iterations, converged=state.converged,
        max_change=list(state.max_change), loglik_history=list(state.loglik_history), warnings=issues,
        log_prior=state.log_prior, n_persons=design.n_persons, population_mean=state.mu,
        population_sd=state.sigma, quadrature_nodes=quad.z, quadrature_log_weights=quad.log_w,
        se_method=se_method, backend="native", priors=prior_map, covariance=cov,
        free_index=idx if idx is not None else free_index(free, name == "1PL")[0])


class Calibrator:
    """Estimator-style wrapper: ``Calibrator(model="2PL").fit(responses)``.

    Keyword arguments are those of :func:`fit`; the fitted result is kept in
    ``result_`` and the estimator is returned, scikit-learn style, by
    ``fit``; use ``fit(...).result_``.
    """

    def __init__(self, model: str = "2PL", **options: Any):
        self.model = model
        self.options = options
        self.result_: CalibrationResult | None = None

    def get_params(self) -> dict:
        return {"model": self.model, **self.options}

    def set_params(self, **params) -> "Calibrator":
        if "model" in params:
            self.model = params.pop("model")
        self.options.update(params)
        return self

    def fit(self, responses, fixed: Mapping | None = None) -> "Calibrator":
        opts = dict(self.options)
        if fixed is not None:
            opts["fixed"] = fixed
        self.result_ = fit(responses, self.model, **opts)
        return self

    def fit_result(self, responses, fixed: Mapping | None = None) -> CalibrationResult:
        return self.fit(responses, fixed).result_
