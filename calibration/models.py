"""Item response models and priors, in slope-intercept form.

Internally every item uses the slope-intercept parameterisation
``eta = a*theta + d`` (logistic, *no* 1.7 constant) because the 2PL M-step is
then a concave weighted logistic regression; reported difficulties are
``b = -d/a``. Each model returns category probabilities and their first and
second derivatives at the quadrature nodes, from which the EM M-step, the
observed information and the item-fit statistics are all derived generically.

Shapes: ``params`` (J, p); ``P`` (J, K, Q); ``dP`` (J, K, p, Q);
``d2P`` (J, K, p, p, Q), with K the largest number of categories (padded
categories have probability 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit

from .errors import CalibrationInputError

__all__ = ["Normal", "LogNormal", "Beta", "resolve_model", "GradedModel", "ThreePLModel",
           "MODEL_NAMES"]

MODEL_NAMES = ("1PL", "RASCH", "2PL", "3PL", "GRM")


# ---------------------------------------------------------------------- priors
@dataclass(frozen=True)
class Normal:
    """Normal prior (used on b or d)."""

    mean: float = 0.0
    sd: float = 1.0

    def logpdf(self, x):
        return stats.norm.logpdf(x, self.mean, self.sd)

    def d1(self, x):
        return -(x - self.mean) / self.sd ** 2

    def d2(self, x):
        return np.full_like(np.asarray(x, dtype=float), -1.0 / self.sd ** 2)


@dataclass(frozen=True)
class LogNormal:
    """Log-normal prior on a discrimination (keeps a > 0, shrinks extreme slopes)."""

    meanlog: float = 0.0
    sdlog: float = 0.5

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, stats.lognorm.logpdf(np.where(x > 0, x, 1.0), self.sdlog,
                                                        scale=np.exp(self.meanlog)), -np.inf)

    def d1(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return -(1.0 + (np.log(x) - self.meanlog) / self.sdlog ** 2) / x

    def d2(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (1.0 + (np.log(x) - self.meanlog - 1.0) / self.sdlog ** 2) / x ** 2


@dataclass(frozen=True)
class Beta:
    """Beta prior on the 3PL lower asymptote; Beta(5, 17) has mean .227 (5-option items)."""

    alpha: float = 5.0
    beta: float = 17.0

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x > 0) & (x < 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(inside, stats.beta.logpdf(np.clip(x, 1e-12, 1 - 1e-12), self.alpha, self.beta),
                            -np.inf)

    def d1(self, x):
        x = np.asarray(x, dtype=float)
        return (self.alpha - 1) / x - (self.beta - 1) / (1 - x)

    def d2(self, x):
        x = np.asarray(x, dtype=float)
        return -(self.alpha - 1) / x ** 2 - (self.beta - 1) / (1 - x) ** 2


_PRIOR_TYPES = {"normal": Normal, "lognormal": LogNormal, "beta": Beta}


def parse_prior(spec):
    """Accept a prior object, None, or a tuple like ('lognormal', 0, 0.5)."""
    if spec is None or isinstance(spec, (Normal, LogNormal, Beta)):
        return spec
    if isinstance(spec, (tuple, list)) and spec and str(spec[0]).lower() in _PRIOR_TYPES:
        return _PRIOR_TYPES[str(spec[0]).lower()](*spec[1:])
    raise CalibrationInputError(
        f"cannot interpret prior {spec!r}; use Normal(m, s), LogNormal(m, s), Beta(a, b), "
        f"a tuple like ('lognormal', 0, 0.5), or None")


# ---------------------------------------------------------------------- models
class GradedModel:
    """Samejima graded response model; the 2PL, 1PL and Rasch are its K=2 case.

    params[:, 0] = a, params[:, m] = d_m (m = 1..K-1) with
    P(X >= m) = expit(a*theta + d_m), d_1 > d_2 > ... ; threshold b_m = -d_m / a.
    """

    def __init__(self, name: str, n_cat: np.ndarray):
        self.name = name
        self.n_cat = np.asarray(n_cat, dtype=np.int64)
        self.k_max = int(self.n_cat.max())
        self.n_params = self.k_max
        m = np.arange(1, self.k_max)
        self.valid_threshold = m[None, :] < self.n_cat[:, None]      # (J, K-1)

    # parameter bookkeeping ------------------------------------------------
    def param_mask(self) -> np.ndarray:
        """Which (J, p) entries are real parameters (padding excluded)."""
        mask = np.zeros((len(self.n_cat), self.n_params), dtype=bool)
        mask[:, 0] = True
        mask[:, 1:] = self.valid_threshold
        return mask

    def start(self, cum_props: np.ndarray) -> np.ndarray:
        """Start values from observed cumulative proportions P(X >= m) per item."""
        J = len(self.n_cat)
        params = np.zeros((J, self.n_params))
        params[:, 0] = 1.0
        p = np.clip(cum_props, 0.01, 0.99)
        # logit of marginal proportion, inflated for the N(0,1) integration with a = 1
        d = np.log(p / (1 - p)) * np.sqrt(1 + 1.0 / 2.9)
        d = np.where(self.valid_threshold, d, 0.0)
        # enforce strictly decreasing intercepts
        for m in range(1, self.k_max - 1):
            ok = self.valid_threshold[:, m]
            d[ok, m] = np.minimum(d[ok, m], d[ok, m - 1] - 0.2)
        params[:, 1:] = d
        return params

    def to_natural(self, params):
        a = params[:, 0]
        d = np.where(self.valid_threshold, params[:, 1:], np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            b = -d / a[:, None]
        return {"a": a, "d": d, "b": b}

    def from_natural(self, a, b, c=None):
        """(a, b[thresholds]) -> params; b may be 1-D for dichotomous items."""
        b = np.atleast_2d(np.asarray(b, dtype=float))
        if b.shape[0] != np.size(a):
            b = b.T
        params = np.zeros((np.size(a), self.n_params))
        params[:, 0] = a
        params[:, 1:1 + b.shape[1]] = -np.asarray(a)[:, None] * b
        return params

    # probabilities ----------------------------------------------------------
    def _cumulative(self, params, theta):
        a = params[:, 0]
        d = params[:, 1:]
        eta = a[:, None, None] * theta[None, None, :] + d[:, :, None]          # (J, K-1, Q)
        valid = self.valid_threshold[:, :, None]
        ps = np.where(valid, expit(eta), 0.0)
        qs = np.where(valid, expit(-eta), 1.0)
        J, Q = params.shape[0], theta.shape[0]
        one, zero = np.ones((J, 1, Q)), np.zeros((J, 1, Q))
        pstar = np.concatenate([one, ps, zero], axis=1)                      # (J, K+1, Q)
        qstar = np.concatenate([zero, qs, one], axis=1)
        return pstar, qstar

    def probs(self, params, theta):
        pstar, qstar = self._cumulative(params, theta)
        upper = pstar[:, :-1] - pstar[:, 1:]
        lower = qstar[:, 1:] - qstar[:, :-1]
        return np.where(pstar[:, :-1] > 0.5, lower, upper)                  # cancellation-safe

    def derivs(self, params, theta, second: bool = False):
        pstar, qstar = self._cumulative(params, theta)
        P = np.where(pstar[:, :-1] > 0.5, qstar[:, 1:] - qstar[:, :-1], pstar[:, :-1] - pstar[:, 1:])
        W = pstar * qstar                                                    # 0 at both ends/padding
        J, K, Q = P.shape
        p = self.n_params
        dP = np.zeros((J, K, p, Q))
        dP[:, :, 0, :] = theta * (W[:, :-1] - W[:, 1:])
        for c in range(K):
            if c >= 1:
                dP[:, c, c, :] += W[:, c]
            if c + 1 <= K - 1:
                dP[:, c, c + 1, :] -= W[:, c + 1]
        if not second:
            return P, dP, None
        V = W * (qstar - pstar)                                              # d W / d eta
        d2P = np.zeros((J, K, p, p, Q))
        d2P[:, :, 0, 0, :] = theta ** 2 * (V[:, :-1] - V[:, 1:])
        for c in range(K):
            if c >= 1:
                d2P[:, c, 0, c, :] += theta * V[:, c]
                d2P[:, c, c, 0, :] += theta * V[:, c]
                d2P[:, c, c, c, :] += V[:, c]
            if c + 1 <= K - 1:
                d2P[:, c, 0, c + 1, :] -= theta * V[:, c + 1]
                d2P[:, c, c + 1, 0, :] -= theta * V[:, c + 1]
                d2P[:, c, c + 1, c + 1, :] -= V[:, c + 1]
        return P, dP, d2P

    def n_item_params(self) -> np.ndarray:
        """Estimated parameters per item (for fit-statistic degrees of freedom)."""
        if self.name == "RASCH" or self.name == "1PL":
            return self.n_cat - 1
        return self.n_cat.copy()


class ThreePLModel:
    """3PL: P(1) = c + (1 - c) * expit(a*theta + d); params = [a, d, c]."""

    name = "3PL"

    def __init__(self, n_cat: np.ndarray):
        self.n_cat = np.asarray(n_cat, dtype=np.int64)
        self.k_max = 2
        self.n_params = 3

    def param_mask(self):
        return np.ones((len(self.n_cat), 3), dtype=bool)

    def start(self, cum_props):
        p = np.clip(cum_props[:, 0], 0.01, 0.99)
        c = np.full_like(p, 0.2)
        adj = np.clip((p - c) / (1 - c), 0.02, 0.98)
        d = np.log(adj / (1 - adj)) * np.sqrt(1 + 1.0 / 2.9)
        return np.column_stack([np.ones_like(p), d, c])

    def to_natural(self, params):
        a, d, c = params[:, 0], params[:, 1], params[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            b = -d / a
        return {"a": a, "d": d[:, None], "b": b[:, None], "c": c}

    def from_natural(self, a, b, c=None):
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float).reshape(-1)
        c = np.zeros_like(a) if c is None else np.asarray(c, dtype=float)
        return np.column_stack([a, -a * b, c])

    def probs(self, params, theta):
        a, d, c = params[:, 0:1], params[:, 1:2], params[:, 2:3]
        eta = a * theta[None, :] + d
        p1 = c + (1 - c) * expit(eta)
        p0 = (1 - c) * expit(-eta)
        return np.stack([p0, p1], axis=1)

    def derivs(self, params, theta, second: bool = False):
        a, d, c = params[:, 0:1], params[:, 1:2], params[:, 2:3]
        eta = a * theta[None, :] + d
        s, t = expit(eta), expit(-eta)
        P = np.stack([(1 - c) * t, c + (1 - c) * s], axis=1)
        W = s * t
        J, Q = eta.shape
        d1 = np.stack([(1 - c) * W * theta, (1 - c) * W, t], axis=1)         # (J, 3, Q) for P(1)
        dP = np.stack([-d1, d1], axis=1)
        if not second:
            return P, dP, None
        V = W * (t - s)
        h = np.zeros((J, 3, 3, Q))
        h[:, 0, 0] = (1 - c) * V * theta ** 2
        h[:, 0, 1] = h[:, 1, 0] = (1 - c) * V * theta
        h[:, 1, 1] = (1 - c) * V
        h[:, 0, 2] = h[:, 2, 0] = -W * theta
        h[:, 1, 2] = h[:, 2, 1] = -W
        d2P = np.stack([-h, h], axis=1)
        return P, dP, d2P

    def n_item_params(self):
        return np.full(len(self.n_cat), 3)


def resolve_model(name: str) -> str:
    key = str(name).strip().upper().replace("-", "")
    aliases = {"RASCH": "RASCH", "1PL": "1PL", "ONEPL": "1PL", "2PL": "2PL", "TWOPL": "2PL",
               "3PL": "3PL", "THREEPL": "3PL", "GRM": "GRM", "GRADED": "GRM", "SAMEJIMA": "GRM"}
    if key not in aliases:
        raise CalibrationInputError(f"unknown model {name!r}; choose one of 1PL, Rasch, 2PL, 3PL, GRM")
    return aliases[key]


def make_model(name: str, n_cat: np.ndarray):
    name = resolve_model(name)
    if name == "3PL":
        return ThreePLModel(n_cat)
    return GradedModel(name, n_cat)


# ---------------------------------------------------------------------- prior terms
def prior_terms(model, params, priors: dict, mask: np.ndarray, *, skip_a: bool = False):
    """Log prior, gradient (J, p) and exact Hessian (J, p, p) in slope-intercept space.

    A prior on b = -d/a is carried through the chain rule (its Hessian includes
    the curvature of the transformation, needed for correct posterior-mode SEs).
    """
    J, p = params.shape
    lp = np.zeros(J)
    g = np.zeros((J, p))
    H = np.zeros((J, p, p))
    a = params[:, 0]
    pa = priors.get("a")
    if pa is not None and not skip_a:
        lp += pa.logpdf(a)
        g[:, 0] += pa.d1(a)
        H[:, 0, 0] += pa.d2(a)
    d_cols = [1] if model.name == "3PL" else list(range(1, p))
    pb, pd = priors.get("b"), priors.get("d")
    for k in d_cols:
        ok = mask[:, k]
        d = params[:, k]
        if pd is not None:
            lp += np.where(ok, pd.logpdf(d), 0.0)
            g[:, k] += np.where(ok, pd.d1(d), 0.0)
            H[:, k, k] += np.where(ok, pd.d2(d), 0.0)
        if pb is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                b = -d / a
                l1, l2 = pb.d1(b), pb.d2(b)
                db_da, db_dd = -b / a, -1.0 / a
                lp += np.where(ok, pb.logpdf(b), 0.0)
                g[:, 0] += np.where(ok, l1 * db_da, 0.0)
                g[:, k] += np.where(ok, l1 * db_dd, 0.0)
                H[:, 0, 0] += np.where(ok, l2 * db_da ** 2 + l1 * 2 * b / a ** 2, 0.0)
                cross = np.where(ok, l2 * b / a ** 2 + l1 / a ** 2, 0.0)
                H[:, 0, k] += cross
                H[:, k, 0] += cross
                H[:, k, k] += np.where(ok, l2 / a ** 2, 0.0)
    pc = priors.get("c")
    if pc is not None and model.name == "3PL":
        c = params[:, 2]
        lp += pc.logpdf(c)
        g[:, 2] += pc.d1(c)
        H[:, 2, 2] += pc.d2(c)
    return lp, g, H
