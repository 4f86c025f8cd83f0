"""Response simulation with known parameters (tests, benchmarks, planning studies)."""

from __future__ import annotations

import numpy as np

from engine.irt import logistic_prob

from .data import ResponseData

__all__ = ["simulate_responses", "random_item_parameters", "draw_scores"]


def random_item_parameters(n_items: int, model: str = "2PL", *, n_categories: int = 4, rng=None) -> dict:
    """Plausible item parameters: a ~ U(0.7, 2.0), b ~ N(0, 1) clipped to +-2.5, c ~ U(.1, .3)."""
    rng = np.random.default_rng(rng)
    model = model.upper()
    a = rng.uniform(0.7, 2.0, n_items)
    if model == "GRM":
        centre = rng.normal(0, 0.8, n_items)
        steps = np.sort(rng.normal(0, 1, (n_items, n_categories - 1)), axis=1)
        b = centre[:, None] + steps
        b = np.sort(b + np.arange(n_categories - 1) * 0.3, axis=1)
        return {"a": a, "b": b}
    b = np.clip(rng.normal(0, 1, n_items), -2.5, 2.5)
    out = {"a": a, "b": b}
    if model == "3PL":
        out["c"] = rng.uniform(0.1, 0.3, n_items)
    if model in ("1PL", "RASCH"):
        out["a"] = np.full(n_items, 1.0 if model == "RASCH" else 1.3)
    return out


def simulate_responses(a, b, c=None, *, n_persons: int | None = None, theta=None, missing: float = 0.0,
                       items_per_person: int | None = None, rng=None):
    """Simulate responses; returns (ResponseData, theta).

    ``b`` 1-D gives dichotomous (2PL/3PL) items, 2-D (items x thresholds) graded
    items. ``missing`` removes that fraction of cells at random (MCAR);
    ``items_per_person`` instead gives each person a random subset (CAT-like
    sparse design) and is generated in chunks so very large designs fit in memory.
    """
    rng = np.random.default_rng(rng)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    graded = b.ndim == 2
    J = len(a)
    if theta is None:
        theta = rng.normal(0.0, 1.0, n_persons)
    theta = np.asarray(theta, dtype=float)
    N = len(theta)
    if items_per_person is not None:
        k = int(items_per_person)
        persons, items, scores = [], [], []
        step = max(1, 2_000_000 // max(J, 1))
        for s in range(0, N, step):
            e = min(N, s + step)
            keys = rng.random((e - s, J))
            chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
            x = draw_scores(theta[s:e, None], a[chosen], b[chosen], None if c is None else np.asarray(c)[chosen],
                            rng=rng, graded=graded)
            persons.append(np.repeat(np.arange(s, e), k))
            items.append(chosen.ravel())
            scores.append(x.ravel())
        data = ResponseData(np.concatenate(persons), np.concatenate(items), np.concatenate(scores),
                            [f"item{j + 1}" for j in range(J)], np.arange(N))
        return data, theta
    x = draw_scores(theta[:, None], a[None, :], b[None, :], None if c is None else np.asarray(c)[None, :],
                    rng=rng, graded=graded).astype(float)
    if missing > 0:
        x[rng.random(x.shape) < missing] = np.nan
        empty = np.isnan(x).all(axis=0)
        if empty.any():                      # keep every item answered at least once
            x[0, empty] = 0
    return ResponseData.from_dense(x, item_ids=[f"item{j + 1}" for j in range(J)]), theta


def draw_scores(theta, a, b, c=None, *, rng, graded: bool = False) -> np.ndarray:
    """Scores drawn at ``theta`` with one uniform per response (broadcasting like the parameters).

    Dichotomous: 1 with the 2PL/3PL probability of :func:`engine.irt.logistic_prob`.
    Graded (``b`` has a trailing threshold axis): the number of boundary curves
    P(X >= m), each a 2PL curve at threshold b_m, that lie above the uniform.
    """
    if not graded:
        p = logistic_prob(theta, a, b, 0.0 if c is None else c)
        return (rng.random(p.shape) < p).astype(np.int64)
    pstar = logistic_prob(np.asarray(theta)[..., None], np.asarray(a)[..., None], b)
    u = rng.random(pstar.shape[:-1])
    return (u[..., None] < pstar).sum(axis=-1).astype(np.int64)
