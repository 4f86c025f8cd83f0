"""M-step of the EM in :mod:`calibration.mml`: new item parameters given expected counts.

Kept apart from the E-step and the EM driver because it is a separate problem: given
the E-step's expected counts ``R3`` (items x categories x quadrature nodes), it
maximises the expected complete-data log-likelihood (plus log-prior) of each item,
which no longer involves persons at all. It does so by Fisher scoring on all items
at once (batched p x p systems) with per-item step halving, or for 1PL a
Schur-complement step and a global line search for the slope shared by all items.
"""

from __future__ import annotations

import numpy as np

from .models import prior_terms

__all__ = ["mstep", "log_prior"]


def _objective(problem, params, R3, theta):
    """Per-item expected complete-data log-posterior (the EM Q-function)."""
    model, priors = problem.model, problem.priors
    P = model.probs(params, theta)
    bad = (P < 0).any(axis=(1, 2)) | ~np.isfinite(params).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logP = np.log(np.where(P > 0, P, 1.0))
    impossible = ((P <= 0) & (R3 > 0)).any(axis=(1, 2))
    obj = (R3 * logP).sum(axis=(1, 2))
    if priors:
        lp, _, _ = prior_terms(model, params, priors, problem.mask, skip_a=problem.shared_a)
        obj = obj + lp
    obj[bad | impossible | ~np.isfinite(obj)] = -np.inf
    return obj


def _score_and_information(problem, params, R3, theta):
    model, priors = problem.model, problem.priors
    P, dP, _ = model.derivs(params, theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        invP = np.where(P > 0, 1.0 / P, 0.0)
    g = np.einsum("jkq,jkpq->jp", R3 * invP, dP)
    node_n = R3.sum(axis=1)
    A = dP * np.sqrt(node_n[:, None, None, :] * invP[:, :, None, :])
    F = np.einsum("jkpq,jkrq->jpr", A, A)
    if priors:
        # prior curvature enters the scoring matrix only through its (clipped)
        # diagonal, which keeps the matrix positive definite; the line search
        # and the exact-Hessian SEs are unaffected by this choice
        _, gp, Hp = prior_terms(model, params, priors, problem.mask, skip_a=problem.shared_a)
        g += gp
        diag = np.maximum(-np.diagonal(Hp, axis1=1, axis2=2), 0.0)
        F[:, np.arange(F.shape[1]), np.arange(F.shape[1])] += diag
    return g, F


def mstep(problem, params, R3, theta, n_inner=4, max_step=1.0):
    """Fisher-scoring steps for all free items at once, with step halving."""
    model, free, shared_a = problem.model, problem.free, problem.shared_a
    params = params.copy()
    free_items = free.any(axis=1)
    failures = np.zeros(len(params), dtype=bool)
    for _ in range(n_inner):
        g, F = _score_and_information(problem, params, R3, theta)
        if shared_a:
            delta = _shared_slope_step(g, F, free, params, problem.a_prior)
        else:
            g = np.where(free, g, 0.0)
            off = ~free
            F = np.where(off[:, :, None] | off[:, None, :], 0.0, F)
            F[:, np.arange(F.shape[1]), np.arange(F.shape[1])] += off
            # Fisher information is positive semi-definite: a tiny relative ridge
            # guards the (near-)singular case of items carrying almost no information
            dg = np.diagonal(F, axis1=1, axis2=2)
            F[:, np.arange(F.shape[1]), np.arange(F.shape[1])] += 1e-9 * dg.max(axis=1, keepdims=True) + 1e-12
            delta = np.linalg.solve(F, g[:, :, None])[:, :, 0]
            bad = ~np.isfinite(delta).all(axis=1) | (np.einsum("jp,jp->j", delta, g) < 0)
            if bad.any():                     # fall back to a scaled gradient step
                delta[bad] = g[bad] / np.maximum(dg[bad].max(axis=1, keepdims=True), 1e-12)
        delta = np.where(free, delta, 0.0)
        big = np.abs(delta).max(axis=1)
        delta *= np.minimum(1.0, max_step / np.maximum(big, 1e-300))[:, None]
        if model.name == "3PL":        # keep c inside (0, 1) before the line search
            c, dc = params[:, 2], delta[:, 2]
            lim = np.where(dc > 0, (0.999 - c) / np.maximum(dc, 1e-300),
                           np.where(dc < 0, (c - 1e-4) / np.maximum(-dc, 1e-300), np.inf))
            delta *= np.minimum(1.0, 0.9 * lim)[:, None]
        obj0 = _objective(problem, params, R3, theta)
        if shared_a:
            params, moved = _global_line_search(problem, params, delta, R3, theta, obj0)
        else:
            step = np.ones(len(params))
            done = ~free_items | (np.abs(delta).max(axis=1) == 0)
            new = params.copy()
            for _h in range(30):
                trial = params + step[:, None] * delta
                obj = _objective(problem, trial, R3, theta)
                ok = ~done & np.isfinite(obj) & (obj >= obj0 - 1e-10 * np.abs(obj0))
                new[ok] = trial[ok]
                done |= ok
                if done.all():
                    break
                step[~done] *= 0.5
            failures |= ~done
            moved = np.abs(new - params).max()
            params = new
        if moved < 1e-9:
            break
    return params, failures


def _shared_slope_step(g, F, free, params, a_prior):
    """Newton step for 1PL (one slope shared by all free items) by Schur complement."""
    items = free[:, 1]
    gd, Hdd = g[:, 1], np.maximum(F[:, 1, 1], 1e-12)
    ga, Haa, Had = g[:, 0], F[:, 0, 0], F[:, 0, 1]
    delta = np.zeros_like(g)
    if free[:, 0].any():
        a = params[items, 0][0]
        G = ga[items].sum()
        H = Haa[items].sum()
        if a_prior is not None:
            G += float(a_prior.d1(a))
            H -= float(a_prior.d2(a))
        S = H - np.sum(Had[items] ** 2 / Hdd[items])
        da = (G - np.sum(Had[items] * gd[items] / Hdd[items])) / S if S > 0 else 0.0
        delta[items, 0] = da
        delta[items, 1] = (gd[items] - Had[items] * da) / Hdd[items]
    else:
        delta[items, 1] = gd[items] / Hdd[items]
    return delta


def _global_line_search(problem, params, delta, R3, theta, obj0):
    """Step halving on the summed objective: the shared slope couples all items."""
    a_prior = problem.a_prior

    def total(p, obj):
        t = obj.sum()
        if a_prior is not None:
            t += float(a_prior.logpdf(p[:, 0][np.argmax(delta[:, 0] != 0)]))
        return t

    base = total(params, obj0)
    step = 1.0
    for _ in range(30):
        trial = params + step * delta
        t = total(trial, _objective(problem, trial, R3, theta))
        if np.isfinite(t) and t >= base - 1e-10 * abs(base):
            return trial, np.abs(trial - params).max()
        step *= 0.5
    return params, 0.0


def log_prior(problem, params) -> float:
    """Log-prior of the free item parameters (a shared 1PL slope counted once)."""
    priors, a_prior, free = problem.priors, problem.a_prior, problem.free
    if not priors and a_prior is None:
        return 0.0
    lp, _, _ = prior_terms(problem.model, params, priors, problem.mask, skip_a=problem.shared_a)
    total = float(lp[free.any(axis=1)].sum())
    if a_prior is not None and free[:, 0].any():
        total += float(a_prior.logpdf(params[free[:, 0], 0][0]))
    return total
