"""Public entry points: the estimator :class:`Calibrator` and the function :func:`fit`."""

from __future__ import annotations

import inspect
import time
import warnings as _warnings
from collections.abc import Mapping
from contextlib import contextmanager

import numpy as np

from .errors import CalibrationInputError, CalibrationWarning
from .girth_backend import fit_girth, require_girth
from .mml import EMState, free_index, observed_information, run_em
from .models import resolve_model
from .problem import CalibrationProblem, as_response_data, category_counts, merge_priors
from .result import CalibrationIssue, CalibrationResult

__all__ = ["fit", "Calibrator"]


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


class Calibrator:
    """Item calibration by marginal maximum likelihood (EM, Bock-Aitkin), scikit-learn style.

    The settings are keyword-only constructor arguments, kept as attributes of
    the same name (see :meth:`get_params`); the data go to :meth:`fit`, which
    returns the :class:`CalibrationResult` and also keeps it as ``result_``.

    model: "1PL" (one common slope estimated, theta ~ N(0,1); equivalent to a Rasch
        model with a free ability SD), "Rasch" (slope fixed at 1), "2PL", "3PL", "GRM".
    n_quadrature, quadrature_bound: equally spaced nodes on [-bound, bound].
    priors: {"a": LogNormal(..), "b": Normal(..), "c": Beta(..), "d": Normal(..)};
        merged over the defaults (3PL: c ~ Beta(5, 17)); a value of None removes a prior.
    n_categories: GRM categories per item (an int, a sequence, or {item_id: k});
        by default the highest observed score + 1.
    estimate_population: estimate the ability mean and SD (default: only when
        there are fixed items, which it needs to identify the scale).
    max_iter: maximum number of E-steps (``iterations`` on the result counts E-steps).
    tol: convergence when the largest change of any free parameter (slope-intercept
        form, plus ability mean/SD when estimated) over one EM step is below it.
    accelerate: SQUAREM extrapolation of the EM map (same optimum, ~3-5x fewer E-steps;
        ``loglik_history`` is then not monotone step by step, the accepted points are).
    se_method: "louis" (exact observed information), "xpd" (cross-product), "auto"
        (Louis unless too costly) or "none".
    min_responses: items with fewer responses get a "few_responses" warning.
    backend: "native" or "girth" (see :mod:`calibration.girth_backend`).
    blas_threads: BLAS threads during the fit (see :func:`blas_threads`); None = leave as is.
    """

    def __init__(self, *, model: str = "2PL", n_quadrature: int = 41, quadrature_bound: float = 6.0,
                 priors: Mapping | None = None, n_categories=None, estimate_population: bool | None = None,
                 max_iter: int = 500, tol: float = 1e-4, accelerate: bool = True, se_method: str = "auto",
                 min_responses: int = 50, backend: str = "native", blas_threads: int | None = 1):
        self.model = model
        self.n_quadrature = n_quadrature
        self.quadrature_bound = quadrature_bound
        self.priors = priors
        self.n_categories = n_categories
        self.estimate_population = estimate_population
        self.max_iter = max_iter
        self.tol = tol
        self.accelerate = accelerate
        self.se_method = se_method
        self.min_responses = min_responses
        self.backend = backend
        self.blas_threads = blas_threads
        self.result_: CalibrationResult | None = None

    @classmethod
    def _setting_names(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self) -> dict:
        """All settings by name."""
        return {name: getattr(self, name) for name in self._setting_names()}

    def set_params(self, **settings) -> Calibrator:
        unknown = sorted(set(settings) - set(self._setting_names()))
        if unknown:
            raise CalibrationInputError(f"unknown Calibrator setting(s): {', '.join(unknown)}")
        for name, value in settings.items():
            setattr(self, name, value)
        return self

    def fit(self, responses, fixed: Mapping | None = None) -> CalibrationResult:
        """Calibrate ``responses``: ResponseData, a dense persons x items array (NaN = not
        presented) or a path.

        fixed: {item_id: {"a", "b", "c"}} held at bank values; the ability mean and SD are
            then estimated so that the free items land on the bank scale.
        Fit problems are ``result.warnings`` and, for the native backend, also emitted
        as :class:`CalibrationWarning`.
        """
        result = self._calibrate(responses, fixed)
        _warn(result, stacklevel=3)
        return result

    def _calibrate(self, responses, fixed: Mapping | None) -> CalibrationResult:
        t0 = time.perf_counter()
        name = resolve_model(self.model)
        data = as_response_data(responses)
        with blas_threads(self.blas_threads):
            if self.backend == "girth":
                require_girth(fixed, self.priors)
                problem = self._problem(data, name, priors={})
                state = fit_girth(problem, max_iter=self.max_iter)
            else:
                self._check_settings()
                problem = self._problem(data, name, priors=merge_priors(name, self.priors), fixed=fixed,
                                        estimate_population=self.estimate_population)
                state = run_em(problem, max_iter=self.max_iter, tol=self.tol, accelerate=self.accelerate)
            result = _finalize(problem, state, self)
        result.seconds = time.perf_counter() - t0
        self.result_ = result
        return result

    def _check_settings(self) -> None:
        if self.backend != "native":
            raise CalibrationInputError(f"unknown backend {self.backend!r} (use 'native' or 'girth')")
        if self.se_method not in ("auto", "louis", "xpd", "none"):
            raise CalibrationInputError(f"unknown se_method {self.se_method!r}")
        if self.max_iter < 1 or self.tol <= 0:
            raise CalibrationInputError("max_iter must be >= 1 and tol > 0")

    def _problem(self, data, name: str, *, priors: dict, fixed: Mapping | None = None,
                 estimate_population: bool | None = None) -> CalibrationProblem:
        return CalibrationProblem.build(data, name, n_categories=self.n_categories, priors=priors, fixed=fixed,
                                        estimate_population=estimate_population,
                                        n_quadrature=self.n_quadrature, quadrature_bound=self.quadrature_bound)


def fit(responses, model: str = "2PL", *, fixed: Mapping | None = None, **settings) -> CalibrationResult:
    """Calibrate item parameters by marginal maximum likelihood (EM, Bock-Aitkin).

    ``fit(responses, model, fixed=..., **settings)`` is
    ``Calibrator(model=model, **settings).fit(responses, fixed)``; the settings
    (n_quadrature, priors, max_iter, tol, se_method, backend, ...) are documented
    on :class:`Calibrator`.
    """
    result = Calibrator(model=model, **settings)._calibrate(responses, fixed)
    _warn(result, stacklevel=3)
    return result


def _warn(result: CalibrationResult, stacklevel: int) -> None:
    if result.backend == "native":
        for w in result.warnings:
            _warnings.warn(w.message, CalibrationWarning, stacklevel=stacklevel)


# ---------------------------------------------------------------------- result
def _finalize(problem: CalibrationProblem, state: EMState, settings: Calibrator) -> CalibrationResult:
    """Standard errors and diagnostics for converged (or externally estimated) parameters."""
    cov, idx, se_method, issues = _covariance(problem, state, settings.se_method)
    data = problem.data
    result = CalibrationResult(
        model=problem.name, item_ids=list(data.item_ids), params=state.params, n_categories=problem.n_cat,
        **_estimates(problem, state.params, cov, idx),
        fixed=problem.is_fixed, n_responses=data.item_counts(),
        log_likelihood=state.log_likelihood, iterations=state.iterations, converged=state.converged,
        max_change=list(state.max_change), loglik_history=list(state.loglik_history), warnings=issues,
        log_prior=state.log_prior, n_persons=problem.design.n_persons, population_mean=state.mu,
        population_sd=state.sigma, quadrature_nodes=problem.quad.z, quadrature_log_weights=problem.quad.log_w,
        se_method=se_method, backend=settings.backend, priors=problem.priors, covariance=cov,
        free_index=idx if idx is not None else free_index(problem.free, problem.shared_a)[0])
    result.warnings.extend(_diagnostics(problem, state, result, settings))
    return result


def _covariance(problem: CalibrationProblem, state: EMState, se_method: str):
    """(covariance of the free parameters or None, free-index map or None, method used, issues)."""
    if se_method == "none":
        return None, None, "none", []
    info, used, idx = observed_information(problem, state, se_method)
    issues = []
    cov = None
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
            cov = np.linalg.pinv(info)
        else:
            cov = np.linalg.inv(info)
    return cov, idx, used, issues


def _estimates(problem: CalibrationProblem, params: np.ndarray, cov, idx) -> dict:
    """Natural parameters a, b, d, c and their standard errors (delta method for b)."""
    name = problem.name
    J, p = params.shape
    nat = problem.model.to_natural(params)
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
        mask = problem.mask[:, 1:]
        se_b = np.where(mask, se_b, np.nan)
        se_d = np.where(mask, se_d, np.nan)
    return dict(a=a, b=b, d=d, c=c, se_a=se_a, se_b=se_b, se_d=se_d, se_c=se_c)


def _diagnostics(problem: CalibrationProblem, state: EMState, result: CalibrationResult,
                 settings: Calibrator) -> list[CalibrationIssue]:
    """Fit problems worth a warning: no convergence, failed M-steps, thin or degenerate items,
    extreme estimates."""
    issues = []
    ids = result.item_ids
    J = len(ids)
    is_fixed, n_cat, n_resp = problem.is_fixed, problem.n_cat, result.n_responses
    if state.converged is False:
        slow = np.nonzero((state.item_change if state.item_change is not None else np.zeros(J))
                          >= settings.tol)[0]
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
    for j in np.nonzero((n_resp < settings.min_responses) & ~is_fixed)[0]:
        issues.append(CalibrationIssue("few_responses", f"item '{ids[j]}' has only {n_resp[j]} responses "
                                                        f"(< {settings.min_responses}); estimates are "
                                                        f"unstable", ids[j]))
    counts = category_counts(problem.data, int(n_cat.max()))
    for j in np.nonzero(~is_fixed)[0]:
        seen = counts[j, : n_cat[j]] > 0
        if seen.sum() < 2:
            issues.append(CalibrationIssue("no_variation", f"item '{ids[j]}': every response is in the same "
                                                           f"category; its parameters are not identified", ids[j]))
        elif not seen.all():
            miss = [int(k) for k in np.nonzero(~seen)[0]]
            issues.append(CalibrationIssue("empty_category", f"item '{ids[j]}': categories {miss} never observed; "
                                                             f"adjacent thresholds are not identified", ids[j]))
    a, b, c = result.a, result.b, result.c
    bb = np.atleast_2d(b.T).T if b.ndim == 1 else b
    for j in np.nonzero(~is_fixed)[0]:
        msgs = []
        if a[j] <= 0:
            msgs.append(f"non-positive discrimination a={a[j]:.3f}")
        elif problem.name in ("2PL", "3PL", "GRM") and (a[j] < 0.2 or a[j] > 5.0):
            msgs.append(f"extreme discrimination a={a[j]:.3f}")
        bj = bb[j][np.isfinite(bb[j])]
        if len(bj) and np.abs(bj).max() > 6.0:
            msgs.append(f"extreme difficulty b={bj[np.argmax(np.abs(bj))]:.2f}")
        if c is not None and c[j] > 0.5:
            msgs.append(f"high lower asymptote c={c[j]:.3f}")
        if msgs:
            issues.append(CalibrationIssue("extreme_estimate", f"item '{ids[j]}': " + "; ".join(msgs), ids[j]))
    return issues
