"""Ability estimators (EAP, MAP, MLE, WLE), each returning (theta, se).

All four share one signature, ``Estimator``::

    estimator(pattern, prior_mean=0.0, prior_sd=1.0, n_points=61, bounds=(-4.0, 4.0)) -> (theta, se)

and are registered by name in ``ESTIMATORS``; settings an estimator has no use
for (MAP's ``n_points``) are accepted and ignored.

All estimators are bounded to ``bounds`` (default [-4, 4]) so every response
pattern yields a finite answer. MLE has no finite maximum for all-lowest or
all-highest score patterns (and nothing to maximise for an empty pattern): in
those cases it falls back to EAP under the given normal prior and says so
only through its documented behaviour, never through an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import irt
from .irt import FloatArray
from .registry import Registry

if TYPE_CHECKING:
    from .bank import Bank

__all__ = [
    "Estimator",
    "ResponsePattern",
    "GridPosterior",
    "quadrature_grid",
    "eap",
    "map_estimate",
    "mle",
    "wle",
    "ESTIMATORS",
    "estimate",
]

_EMPTY = np.zeros(0)


@dataclass(frozen=True)
class ResponsePattern:
    """Scored answers to a set of items, split into logistic-family and graded parts."""

    scores: FloatArray = field(default_factory=lambda: _EMPTY)
    a: FloatArray = field(default_factory=lambda: _EMPTY)
    b: FloatArray = field(default_factory=lambda: _EMPTY)
    c: FloatArray = field(default_factory=lambda: _EMPTY)
    d: FloatArray = field(default_factory=lambda: _EMPTY)
    graded_scores: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    graded_a: FloatArray = field(default_factory=lambda: _EMPTY)
    graded_thresholds: FloatArray = field(default_factory=lambda: np.zeros((0, 1)))

    @classmethod
    def dichotomous(
        cls, scores: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike = 0.0, d: npt.ArrayLike = 1.0
    ) -> ResponsePattern:
        scores = np.asarray(scores, dtype=float).ravel()
        n = scores.size
        if np.any((scores != 0) & (scores != 1)):
            raise ValueError("dichotomous scores must be 0 or 1")
        return cls(
            scores=scores,
            a=np.broadcast_to(np.asarray(a, dtype=float), (n,)).copy(),
            b=np.broadcast_to(np.asarray(b, dtype=float), (n,)).copy(),
            c=np.broadcast_to(np.asarray(c, dtype=float), (n,)).copy(),
            d=np.broadcast_to(np.asarray(d, dtype=float), (n,)).copy(),
        )

    @classmethod
    def graded(cls, scores: npt.ArrayLike, a: npt.ArrayLike, thresholds: npt.ArrayLike) -> ResponsePattern:
        scores = np.asarray(scores, dtype=np.int64).ravel()
        thresholds = np.atleast_2d(np.asarray(thresholds, dtype=float))
        max_scores = np.isfinite(thresholds).sum(axis=1)
        if np.any(scores < 0) or np.any(scores > max_scores):
            raise ValueError("graded scores must lie in 0..number of thresholds")
        return cls(graded_scores=scores, graded_a=np.asarray(a, dtype=float).ravel(), graded_thresholds=thresholds)

    @classmethod
    def from_bank(cls, bank: Bank, indices: npt.ArrayLike, scores: npt.ArrayLike) -> ResponsePattern:
        """Pattern for items of an ``engine.bank.Bank`` (mixed banks split automatically)."""
        indices = np.asarray(indices, dtype=np.int64)
        scores = np.asarray(scores)
        graded = bank.is_graded[indices]
        dich = indices[~graded]
        g = indices[graded]
        return cls(
            scores=scores[~graded].astype(float),
            a=bank.a[dich],
            b=bank.b[dich],
            c=bank.c[dich],
            d=bank.d[dich],
            graded_scores=scores[graded].astype(np.int64),
            graded_a=bank.a[g],
            graded_thresholds=bank.thresholds[g],
        )

    @property
    def n_items(self) -> int:
        return int(self.scores.size + self.graded_scores.size)

    def extreme(self) -> int:
        """+1 if every answer got its top score, -1 if every answer got 0, else 0."""
        if self.n_items == 0:
            return 0
        top = np.isfinite(self.graded_thresholds).sum(axis=1)
        if np.all(self.scores == 1) and np.all(self.graded_scores == top):
            return 1
        if np.all(self.scores == 0) and np.all(self.graded_scores == 0):
            return -1
        return 0

    def log_likelihood(self, theta: npt.ArrayLike) -> FloatArray:
        theta = np.asarray(theta, dtype=float)
        total = np.zeros(theta.shape)
        if self.scores.size:
            total = total + irt.logistic_log_likelihood(theta, self.scores, self.a, self.b, self.c, self.d)
        if self.graded_scores.size:
            total = total + irt.graded_log_likelihood(theta, self.graded_scores, self.graded_a, self.graded_thresholds)
        return total

    def information(self, theta: npt.ArrayLike) -> FloatArray:
        """Test information of the answered items at each θ."""
        theta = np.asarray(theta, dtype=float)
        total = np.zeros(theta.shape)
        if self.scores.size:
            total = total + irt.logistic_information(theta[..., None], self.a, self.b, self.c, self.d).sum(axis=-1)
        if self.graded_scores.size:
            total = total + irt.graded_information(theta, self.graded_a, self.graded_thresholds).sum(axis=-1)
        return total

    def derivatives(self, theta: float) -> tuple[float, float, float, float, float]:
        """(log-lik, gradient, second derivative, test information, Σ J) at scalar θ."""
        sums = np.zeros(5)
        if self.scores.size:
            parts = irt.logistic_derivatives(theta, self.scores, self.a, self.b, self.c, self.d)
            sums += [part.sum() for part in parts]
        if self.graded_scores.size:
            parts = irt.graded_derivatives(theta, self.graded_scores, self.graded_a, self.graded_thresholds)
            sums += [part.sum() for part in parts]
        ll, gradient, second, info, j = (float(x) for x in sums)
        return ll, gradient, second, info, j


def quadrature_grid(n_points: int = 61, bounds: tuple[float, float] = (-4.0, 4.0)) -> FloatArray:
    """Equally spaced nodes: for smooth posteriors this rule is spectrally accurate."""
    return np.linspace(bounds[0], bounds[1], int(n_points))


def _normal_log_prior(grid: FloatArray, mean: float, sd: float) -> FloatArray:
    return -0.5 * ((grid - mean) / sd) ** 2


def _grid_moments(grid: FloatArray, log_posterior: FloatArray) -> tuple[float, float]:
    weights = np.exp(log_posterior - log_posterior.max())
    total = weights.sum()
    mean = float(weights @ grid) / total
    variance = float(weights @ (grid * grid)) / total - mean * mean
    return mean, math.sqrt(max(variance, 0.0))


class GridPosterior:
    """Log-posterior on a fixed grid, updated one answer at a time in O(grid).

    This is the session hot path: adding an item is one vector add, and the
    EAP/posterior-SD are two dot products, independent of test length.
    """

    def __init__(self, grid: npt.ArrayLike, prior_mean: float = 0.0, prior_sd: float = 1.0) -> None:
        self.grid: FloatArray = np.asarray(grid, dtype=float)
        self.log_posterior = _normal_log_prior(self.grid, prior_mean, prior_sd)
        self._grid_sq = self.grid * self.grid

    def add(self, item_log_likelihood: FloatArray) -> None:
        self.log_posterior += item_log_likelihood

    def copy(self) -> GridPosterior:
        twin = object.__new__(GridPosterior)
        twin.grid, twin._grid_sq = self.grid, self._grid_sq  # never written
        twin.log_posterior = self.log_posterior.copy()
        return twin

    def estimate(self) -> tuple[float, float]:
        """(posterior mean, posterior SD)."""
        weights = np.exp(self.log_posterior - self.log_posterior.max())
        total = weights.sum()
        mean = float(weights @ self.grid) / total
        variance = float(weights @ self._grid_sq) / total - mean * mean
        return mean, math.sqrt(max(variance, 0.0))


def eap(
    pattern: ResponsePattern,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_points: int = 61,
    bounds: tuple[float, float] = (-4.0, 4.0),
) -> tuple[float, float]:
    """Expected a posteriori θ with a normal prior; SE is the posterior SD."""
    grid = quadrature_grid(n_points, bounds)
    log_posterior = pattern.log_likelihood(grid) + _normal_log_prior(grid, prior_mean, prior_sd)
    return _grid_moments(grid, log_posterior)


# θ -> (objective, gradient, curvature, fisher_information)
_Evaluation = tuple[float, float, float, float]


def _newton_maximize(
    evaluate: Callable[[float], _Evaluation],
    start: float,
    bounds: tuple[float, float],
    tol: float = 1e-7,
    max_iter: int = 60,
) -> float:
    """Newton–Raphson ascent with step halving, a step cap and clipping to bounds.

    ``evaluate(θ)`` returns (objective, gradient, curvature, fisher_information).
    Where the curvature is not negative (Newton would head downhill) the
    Fisher information stands in for it, i.e. a scoring step.
    """
    lo, hi = bounds
    theta = min(max(start, lo), hi)
    value, gradient, curvature, fisher = evaluate(theta)
    for _ in range(max_iter):
        if not curvature < -1e-10:
            curvature = -max(fisher, 1e-6)
        step = max(-1.0, min(1.0, -gradient / curvature))
        for _ in range(40):
            candidate = min(max(theta + step, lo), hi)
            if candidate == theta:
                return theta
            result = evaluate(candidate)
            if result[0] >= value - 1e-12:
                break
            step *= 0.5
        else:
            return theta
        moved = abs(candidate - theta)
        theta = candidate
        value, gradient, curvature, fisher = result
        if moved < tol:
            break
    return theta


def _grid_start(
    objective_on_grid: Callable[[FloatArray], FloatArray], bounds: tuple[float, float], n_points: int = 41
) -> float:
    """Best node of a coarse grid: keeps Newton in the right basin when 3PL likelihoods are multimodal."""
    grid = np.linspace(bounds[0], bounds[1], n_points)
    return float(grid[int(np.argmax(objective_on_grid(grid)))])


def _inverse_sqrt(information: float) -> float:
    return 1.0 / math.sqrt(max(information, 1e-10))


def map_estimate(
    pattern: ResponsePattern,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_points: int = 61,
    bounds: tuple[float, float] = (-4.0, 4.0),
) -> tuple[float, float]:
    """Posterior mode under a normal prior; SE = 1/sqrt(test information + prior precision).

    ``n_points`` is unused (part of the common ``Estimator`` signature).
    """
    precision = 1.0 / prior_sd**2

    def evaluate(theta: float) -> _Evaluation:
        ll, gradient, second, info, _ = pattern.derivatives(theta)
        offset = theta - prior_mean
        return ll - 0.5 * precision * offset**2, gradient - precision * offset, second - precision, info + precision

    start = _grid_start(lambda g: pattern.log_likelihood(g) + _normal_log_prior(g, prior_mean, prior_sd), bounds)
    theta = _newton_maximize(evaluate, start, bounds)
    return theta, _inverse_sqrt(pattern.derivatives(theta)[3] + precision)


def mle(
    pattern: ResponsePattern,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_points: int = 61,
    bounds: tuple[float, float] = (-4.0, 4.0),
) -> tuple[float, float]:
    """Bounded maximum likelihood; SE = 1/sqrt(test information).

    Fallback: an empty or all-0 / all-top pattern has no finite MLE, so EAP
    (prior_mean, prior_sd, n_points) is returned instead.
    """
    if pattern.extreme() != 0 or pattern.n_items == 0:
        return eap(pattern, prior_mean, prior_sd, n_points, bounds)

    def evaluate(theta: float) -> _Evaluation:
        ll, gradient, second, info, _ = pattern.derivatives(theta)
        return ll, gradient, second, info

    theta = _newton_maximize(evaluate, _grid_start(pattern.log_likelihood, bounds), bounds)
    return theta, _inverse_sqrt(pattern.derivatives(theta)[3])


def wle(
    pattern: ResponsePattern,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_points: int = 61,
    bounds: tuple[float, float] = (-4.0, 4.0),
) -> tuple[float, float]:
    """Warm's weighted likelihood: maximises L(θ)·sqrt(I(θ)), removing MLE's O(1/n) bias.

    Finite for extreme patterns too (within bounds); only an empty pattern
    falls back to EAP. SE = 1/sqrt(test information).
    """
    if pattern.n_items == 0:
        return eap(pattern, prior_mean, prior_sd, n_points, bounds)

    def evaluate(theta: float) -> _Evaluation:
        ll, gradient, second, info, j = pattern.derivatives(theta)
        info = max(info, 1e-300)
        # curvature of the 0.5·log I term is O(1) against O(n) for the log-likelihood: ignored,
        # step halving keeps the iteration an ascent.
        return ll + 0.5 * math.log(info), gradient + j / (2.0 * info), second, info

    def objective(grid: FloatArray) -> FloatArray:
        return pattern.log_likelihood(grid) + 0.5 * np.log(np.maximum(pattern.information(grid), 1e-300))

    theta = _newton_maximize(evaluate, _grid_start(objective, bounds), bounds)
    return theta, _inverse_sqrt(pattern.derivatives(theta)[3])


Estimator = Callable[[ResponsePattern, float, float, int, tuple[float, float]], tuple[float, float]]

ESTIMATORS: Registry[Estimator] = Registry("estimator", {"eap": eap, "map": map_estimate, "mle": mle, "wle": wle})


def estimate(
    name: str,
    pattern: ResponsePattern,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_points: int = 61,
    bounds: tuple[float, float] = (-4.0, 4.0),
) -> tuple[float, float]:
    """Run the estimator registered as ``name`` (ValueError listing the valid names if there is none)."""
    return ESTIMATORS.resolve(name)(pattern, prior_mean, prior_sd, n_points, bounds)
