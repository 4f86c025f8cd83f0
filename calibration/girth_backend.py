"""girth's MML estimators as the estimation step of ``fit(..., backend="girth")``.

girth (0.8) conventions, checked against its source: data are items x persons,
integers, missing = ``girth.INVALID_RESPONSE`` (-99999); the logistic is
``expit(a (theta - b))`` without the 1.7 constant, theta ~ N(0, 1) integrated by
Gauss-Legendre on [-4.5, 4.5] -- the same metric as the native estimator, so no
rescaling is needed. ``twopl_mml`` is its graded estimator with two categories;
graded categories are recoded per item from the *observed* values, so an item
with an unobserved middle category silently loses a threshold (rejected here).
Discriminations are bounded to [0.2, 5]; there are no priors, no fixed
parameters, no standard errors and no iteration count. girth's ``threepl_mml``
fails on numpy >= 2 (it assigns a 1-element array into a float slot); that and
any other failure is raised as :class:`BackendError` without girth's traceback.

The log-likelihood and the standard errors are evaluated by the native code
(same quadrature as a native fit) at girth's estimates, so results from both
backends are directly comparable.
"""

from __future__ import annotations

import numpy as np

from .errors import BackendError
from .mml import EMState, log_probs
from .problem import CalibrationProblem

__all__ = ["fit_girth", "require_girth", "girth_available"]


def girth_available() -> bool:
    try:
        import girth  # noqa: F401
    except Exception:
        return False
    return True


def require_girth(fixed=None, priors=None) -> None:
    """BackendError if girth is missing or asked for anchors or priors, before any data work."""
    try:
        import girth  # noqa: F401
    except Exception as exc:
        raise BackendError(f"backend='girth' needs the girth package ({type(exc).__name__}: {exc})") from None
    if fixed:
        raise BackendError("girth cannot hold item parameters fixed; use backend='native' for "
                           "fixed-parameter calibration")
    if priors:
        raise BackendError("girth estimators take no priors; use backend='native'")


def fit_girth(problem: CalibrationProblem, *, max_iter: int = 500) -> EMState:
    """girth's estimates for ``problem`` with the native log-likelihood at them.

    There are no iteration counts or convergence flags (None), and the ability
    distribution stays N(0, 1). Call :func:`require_girth` first.
    """
    import girth
    data, name, n_cat, mdl = problem.data, problem.name, problem.n_cat, problem.model
    if name == "GRM":
        seen = np.zeros((data.n_items, int(n_cat.max())), dtype=bool)
        seen[data.item_idx, data.score] = True
        gaps = [j for j in range(data.n_items) if not seen[j, : n_cat[j]].all()]
        if gaps:
            raise BackendError(f"girth recodes graded categories from observed values; item "
                               f"'{data.item_ids[gaps[0]]}' has unobserved categories")
    X = np.full((data.n_items, data.n_persons), girth.INVALID_RESPONSE, dtype=np.int64)
    X[data.item_idx, data.person_idx] = data.score
    options = {"quadrature_n": int(max(problem.quad.n, 8)), "max_iteration": int(max(1, min(max_iter, 1000)))}
    func = {"2PL": "twopl_mml", "GRM": "grm_mml", "1PL": "onepl_mml", "RASCH": "rasch_mml",
            "3PL": "threepl_mml"}[name]
    try:
        if name == "RASCH":
            out = girth.rasch_mml(X, 1.0, options=options)
        else:
            out = getattr(girth, func)(X, options=options)
    except Exception as exc:  # girth internals: report, do not leak its traceback
        hint = (" (girth 0.8's 3PL estimator is incompatible with numpy >= 2; use backend='native')"
                if name == "3PL" else "")
        raise BackendError(f"girth.{func} failed: {type(exc).__name__}: {exc}{hint}") from None
    a = np.broadcast_to(np.asarray(out["Discrimination"], dtype=float), (data.n_items,)).copy()
    b = np.asarray(out["Difficulty"], dtype=float)
    c = np.asarray(out["Guessing"], dtype=float) if "Guessing" in out else None
    if name == "GRM":
        b = b.reshape(data.n_items, -1)
        params = mdl.from_natural(a, np.nan_to_num(b[:, : int(n_cat.max()) - 1]))
    else:
        params = mdl.from_natural(a, b.reshape(-1), c)
    if not np.isfinite(params).all():
        raise BackendError(f"girth.{func} returned non-finite estimates")
    quad = problem.quad
    _, _, ll = problem.design.estep(log_probs(mdl, params, quad.z), quad.log_w)
    return EMState(params=params, iterations=None, converged=None, log_likelihood=ll)
