"""Item response models: the 4PL logistic family and Samejima's graded response model.

Broadcasting convention: ``prob``/``information`` functions follow plain numpy
broadcasting between ``theta`` and the item parameters, so ``theta[:, None]``
against ``(n_items,)`` parameters gives a ``(n_theta, n_items)`` table.
``log_likelihood`` functions sum over the items, returning ``theta``'s shape.

The logistic metric is used throughout (no D = 1.7 scaling constant).
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.special import expit, log_expit

__all__ = [
    "logistic_prob",
    "logistic_log_prob",
    "logistic_information",
    "logistic_log_likelihood",
    "logistic_derivatives",
    "graded_boundary_probs",
    "graded_category_probs",
    "graded_information",
    "graded_log_likelihood",
    "graded_derivatives",
    "pad_thresholds",
]

# Floor used where a probability must be logged but underflowed to zero; keeps
# grids finite so posteriors never become all -inf / NaN.
_TINY = 1e-300

FloatArray: TypeAlias = npt.NDArray[np.float64]
# An item parameter (or θ) used directly in arithmetic: one value, or an array that broadcasts.
Floats: TypeAlias = float | FloatArray
# (log-lik, d/dθ, d²/dθ², information, J) per item, as returned by the *_derivatives functions.
Derivatives: TypeAlias = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def logistic_prob(theta: npt.ArrayLike, a: Floats, b: Floats, c: Floats = 0.0, d: Floats = 1.0) -> FloatArray:
    """P(correct) under the 4PL; 1PL/2PL/3PL are the special cases c=0, d=1, equal a."""
    theta = np.asarray(theta, dtype=float)
    return c + (d - c) * expit(a * (theta - b))


def logistic_prob_one(theta: float, a: float, b: float, c: float = 0.0, d: float = 1.0) -> float:
    """:func:`logistic_prob` of one item at one θ in plain floats: the per-answer paths (simulation, SPRT)
    call it millions of times, where numpy's per-call overhead would dominate."""
    z = a * (theta - b)
    return c + (d - c) / (1.0 + math.exp(-z)) if z > -700.0 else c  # exp(700) is near the float limit


def logistic_log_prob(
    theta: npt.ArrayLike, a: Floats, b: Floats, c: npt.ArrayLike = 0.0, d: npt.ArrayLike = 1.0
) -> tuple[FloatArray, FloatArray]:
    """(log P, log Q), computed through log-sigmoids so 2PL tails don't underflow to -inf."""
    theta = np.asarray(theta, dtype=float)
    z = a * (theta - b)
    c = np.asarray(c, dtype=float)
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        log_span = np.log(d - c)
        log_p = np.logaddexp(np.log(c), log_span + log_expit(z))
        log_q = np.logaddexp(np.log1p(-d), log_span + log_expit(-z))
    return log_p, log_q


def logistic_information(theta: npt.ArrayLike, a: Floats, b: Floats, c: Floats = 0.0, d: Floats = 1.0) -> FloatArray:
    """Fisher information of the 4PL: a^2 (P-c)^2 (d-P)^2 / ((d-c)^2 P Q).

    Written via the sigmoid s and its complement so that (P-c) and (d-P) keep
    full precision; reduces to a^2 P Q for the 2PL.
    """
    theta = np.asarray(theta, dtype=float)
    z = a * (theta - b)
    s = expit(z)
    s_bar = expit(-z)
    span = d - c
    p = c + span * s
    q = (1.0 - d) + span * s_bar
    numerator = (a * span * s * s_bar) ** 2
    denominator = p * q
    with np.errstate(divide="ignore", invalid="ignore"):
        info = numerator / denominator
    return np.where(denominator > 0, info, 0.0)


def logistic_log_likelihood(
    theta: npt.ArrayLike, scores: npt.ArrayLike, a: Floats, b: Floats, c: Floats = 0.0, d: Floats = 1.0
) -> FloatArray:
    """Sum over items of x log P + (1-x) log Q; result has theta's shape."""
    theta = np.asarray(theta, dtype=float)
    scores = np.asarray(scores, dtype=float)
    log_p, log_q = logistic_log_prob(theta[..., None], a, b, c, d)
    total: FloatArray = np.sum(np.where(scores > 0.5, log_p, log_q), axis=-1)
    return total


def logistic_derivatives(
    theta: float,
    scores: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike = 0.0,
    d: npt.ArrayLike = 1.0,
) -> Derivatives:
    """Per-item (log-lik, d/dθ, d²/dθ², information, J) at a scalar θ.

    J = P'P''/(PQ) is the term Warm's WLE needs; exact derivatives let Newton
    converge quadratically instead of relying on Fisher scoring.
    """
    a = np.asarray(a, dtype=float)
    c = np.asarray(c, dtype=float)
    d = np.asarray(d, dtype=float)
    z = a * (theta - np.asarray(b, dtype=float))
    s = expit(z)
    s_bar = expit(-z)
    span = d - c
    p = np.maximum(c + span * s, _TINY)
    q = np.maximum((1.0 - d) + span * s_bar, _TINY)
    dp = a * span * s * s_bar
    d2p = a * dp * (s_bar - s)
    correct = np.asarray(scores) > 0.5
    p_x = np.where(correct, p, q)
    dp_x = np.where(correct, dp, -dp)
    d2p_x = np.where(correct, d2p, -d2p)
    first = dp_x / p_x
    second = d2p_x / p_x - first**2
    pq = p * q
    info = dp**2 / pq
    j = dp * d2p / pq
    return np.log(p_x), first, second, info, j


def pad_thresholds(thresholds: npt.ArrayLike) -> FloatArray:
    """Unused (NaN) threshold slots become +inf, which makes their boundary curves identically 0."""
    thresholds = np.asarray(thresholds, dtype=float)
    return np.where(np.isnan(thresholds), np.inf, thresholds)


def graded_boundary_probs(theta: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike) -> FloatArray:
    """P*(X >= k | θ) for k = 1..K-1; shape (..., n_items, K-1)."""
    theta = np.asarray(theta, dtype=float)
    a = np.asarray(a, dtype=float)
    thresholds = pad_thresholds(thresholds)
    return expit(a[:, None] * (theta[..., None, None] - thresholds))


def _category_probs_from_boundaries(star: FloatArray, star_bar: FloatArray) -> FloatArray:
    """P_k = P*_k - P*_{k+1}, taking the difference on whichever side avoids cancellation."""
    ones = np.ones(star.shape[:-1] + (1,))
    zeros = np.zeros_like(ones)
    upper = np.concatenate([ones, star], axis=-1)
    lower = np.concatenate([star, zeros], axis=-1)
    upper_bar = np.concatenate([zeros, star_bar], axis=-1)
    lower_bar = np.concatenate([star_bar, ones], axis=-1)
    direct = upper - lower
    via_complement = lower_bar - upper_bar
    probs: FloatArray = np.where(lower > 0.5, via_complement, direct)
    return probs


def graded_category_probs(theta: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike) -> FloatArray:
    """Samejima category probabilities; shape (..., n_items, K). Padded categories get 0."""
    theta = np.asarray(theta, dtype=float)
    a = np.asarray(a, dtype=float)
    padded = pad_thresholds(thresholds)
    z = a[:, None] * (theta[..., None, None] - padded)
    return _category_probs_from_boundaries(expit(z), expit(-z))


def _graded_category_derivatives(
    theta: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Category probabilities with first and second θ-derivatives, shape (..., n_items, K)."""
    theta = np.asarray(theta, dtype=float)
    a = np.asarray(a, dtype=float)
    padded = pad_thresholds(thresholds)
    a_col = a[:, None]
    z = a_col * (theta[..., None, None] - padded)
    star = expit(z)
    star_bar = expit(-z)
    d_star = a_col * star * star_bar
    d2_star = a_col * d_star * (star_bar - star)
    probs = _category_probs_from_boundaries(star, star_bar)
    zeros = np.zeros(star.shape[:-1] + (1,))
    d_probs = np.concatenate([zeros, d_star], axis=-1) - np.concatenate([d_star, zeros], axis=-1)
    d2_probs = np.concatenate([zeros, d2_star], axis=-1) - np.concatenate([d2_star, zeros], axis=-1)
    return probs, d_probs, d2_probs


def graded_information(theta: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike) -> FloatArray:
    """Item information Σ_k P_k'^2 / P_k (categories with P_k = 0 contribute nothing)."""
    probs, d_probs, _ = _graded_category_derivatives(theta, a, thresholds)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, d_probs**2 / probs, 0.0)
    info: FloatArray = terms.sum(axis=-1)
    return info


def graded_log_likelihood(
    theta: npt.ArrayLike, scores: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike
) -> FloatArray:
    """Σ_i log P_{i, x_i}(θ); result has theta's shape."""
    theta = np.asarray(theta, dtype=float)
    scores = np.asarray(scores, dtype=int)
    probs = graded_category_probs(theta, a, thresholds)
    chosen = np.take_along_axis(probs, np.broadcast_to(scores[:, None], probs.shape[:-1] + (1,)), axis=-1)
    total: FloatArray = np.log(np.maximum(chosen[..., 0], _TINY)).sum(axis=-1)
    return total


def graded_derivatives(theta: float, scores: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike) -> Derivatives:
    """Per-item (log-lik, d/dθ, d²/dθ², information, J) at a scalar θ, as for the logistic family."""
    probs, d_probs, d2_probs = _graded_category_derivatives(float(theta), a, thresholds)
    rows = np.arange(probs.shape[0])
    scores = np.asarray(scores, dtype=int)
    p_x = np.maximum(probs[rows, scores], _TINY)
    first = d_probs[rows, scores] / p_x
    second = d2_probs[rows, scores] / p_x - first**2
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = probs > 0
        info = np.where(positive, d_probs**2 / probs, 0.0).sum(axis=-1)
        j = np.where(positive, d_probs * d2_probs / probs, 0.0).sum(axis=-1)
    return np.log(p_x), first, second, info, j
