"""Calibration result: item parameters, standard errors, diagnostics, JSON export."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .models import make_model

__all__ = ["CalibrationResult", "CalibrationIssue"]


@dataclass(frozen=True)
class CalibrationIssue:
    """One warning: ``code`` is machine-readable, ``item`` None for global issues."""

    code: str
    message: str
    item: str | None = None

    def to_dict(self):
        return {"code": self.code, "item": self.item, "message": self.message}

    def __str__(self):
        return self.message


def _clean(x):
    """JSON-safe scalar/list (NaN/inf -> None)."""
    if isinstance(x, np.ndarray):
        return [_clean(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


@dataclass
class CalibrationResult:
    """Item parameters in the logistic metric without the 1.7 constant.

    ``a`` (J,), ``b`` (J,) for dichotomous models or (J, K-1) thresholds for the
    GRM (NaN-padded), ``c`` (J,) for the 3PL else None; ``d`` intercepts
    (a*theta + d form, d = -a*b). ``se_*`` are standard errors (NaN for fixed
    items); ``covariance`` is over the free parameters in slope-intercept form.
    """

    model: str
    item_ids: list
    params: np.ndarray                      # internal slope-intercept parameters (J, p)
    n_categories: np.ndarray
    a: np.ndarray
    b: np.ndarray
    d: np.ndarray
    c: np.ndarray | None
    se_a: np.ndarray
    se_b: np.ndarray
    se_d: np.ndarray
    se_c: np.ndarray | None
    fixed: np.ndarray
    n_responses: np.ndarray
    log_likelihood: float
    iterations: int | None
    converged: bool | None
    max_change: list = field(default_factory=list)
    loglik_history: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    log_prior: float = 0.0
    n_persons: int = 0
    population_mean: float = 0.0
    population_sd: float = 1.0
    quadrature_nodes: np.ndarray | None = None     # standard-normal grid z (theta = mu + sd*z)
    quadrature_log_weights: np.ndarray | None = None
    se_method: str = "louis"
    backend: str = "native"
    priors: dict = field(default_factory=dict)
    covariance: np.ndarray | None = None
    free_index: np.ndarray | None = None
    seconds: float | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def is_polytomous(self) -> bool:
        return self.model == "GRM"

    def _model(self):
        return make_model(self.model, self.n_categories)

    def item_index(self, item_id) -> int:
        return list(self.item_ids).index(str(item_id))

    def probabilities(self, theta) -> np.ndarray:
        """Category probabilities, shape (items, categories, len(theta))."""
        return self._model().probs(self.params, np.atleast_1d(np.asarray(theta, dtype=float)))

    def expected_score(self, theta) -> np.ndarray:
        """Expected item scores, shape (items, len(theta))."""
        P = self.probabilities(theta)
        return np.einsum("jkq,k->jq", P, np.arange(P.shape[1]))

    def item_parameters(self) -> dict:
        """{item id: {"a", "b", "c"?}} — the form accepted by ``fit(fixed=...)``."""
        out = {}
        for j, iid in enumerate(self.item_ids):
            rec = {"a": float(self.a[j])}
            if self.model == "GRM":
                k = int(self.n_categories[j]) - 1
                rec["b"] = [float(v) for v in self.b[j, :k]]
            else:
                rec["b"] = float(self.b[j])
            if self.c is not None:
                rec["c"] = float(self.c[j])
            out[iid] = rec
        return out

    def standard_errors(self) -> dict:
        out = {}
        for j, iid in enumerate(self.item_ids):
            rec = {"a": float(self.se_a[j])}
            rec["b"] = ([float(v) for v in self.se_b[j, : int(self.n_categories[j]) - 1]]
                        if self.model == "GRM" else float(self.se_b[j]))
            if self.se_c is not None:
                rec["c"] = float(self.se_c[j])
            out[iid] = rec
        return out

    def eap(self, responses):
        """EAP ability estimates and posterior SDs for persons in ``responses``.

        Uses this result's item parameters and ability distribution; items are
        matched by id, persons with no responses get the prior mean/SD.
        """
        from .data import ResponseData
        from .mml import Design, Quadrature, log_probs
        if not isinstance(responses, ResponseData):
            responses = ResponseData.from_dense(responses, item_ids=self.item_ids)
        pos = np.asarray([self.item_index(i) for i in responses.item_ids])
        sub_cat = self.n_categories[pos]
        over = responses.score >= sub_cat[responses.item_idx]
        if over.any():
            from .errors import CalibrationInputError
            k = int(np.nonzero(over)[0][0])
            raise CalibrationInputError(f"{responses.locate(k)}: score {responses.score[k]} outside "
                                        f"the item's categories 0..{sub_cat[responses.item_idx[k]] - 1}")
        quad = Quadrature(len(self.quadrature_nodes))
        quad.z, quad.log_w = self.quadrature_nodes, self.quadrature_log_weights
        theta = self.population_mean + self.population_sd * quad.z
        design = Design(responses, sub_cat, len(theta), collapse=False)
        sub = make_model(self.model, sub_cat)
        logp = log_probs(sub, self.params[pos], theta)
        est = np.full(responses.n_persons, self.population_mean)
        psd = np.full(responses.n_persons, self.population_sd)
        for chunk, _w, post in design.posteriors(logp, quad.log_w):
            r0, r1 = chunk[3]
            rows = design.person_index[r0:r1]
            m = post @ theta
            est[rows] = m
            psd[rows] = np.sqrt(np.maximum(post @ theta ** 2 - m ** 2, 0.0))
        return est, psd

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        items = []
        for j, iid in enumerate(self.item_ids):
            k = int(self.n_categories[j]) - 1
            rec: dict[str, Any] = {"id": iid, "a": _clean(self.a[j])}
            if self.model == "GRM":
                rec["b"] = _clean(self.b[j, :k])
                rec["d"] = _clean(self.d[j, :k])
            else:
                rec["b"] = _clean(self.b[j])
                rec["d"] = _clean(self.d[j])
            if self.c is not None:
                rec["c"] = _clean(self.c[j])
            rec["se_a"] = _clean(self.se_a[j])
            if self.model == "GRM":
                rec["se_b"] = _clean(self.se_b[j, :k])
                rec["se_d"] = _clean(self.se_d[j, :k])
            else:
                rec["se_b"] = _clean(self.se_b[j])
                rec["se_d"] = _clean(self.se_d[j])
            if self.se_c is not None:
                rec["se_c"] = _clean(self.se_c[j])
            rec["n_categories"] = int(self.n_categories[j])
            rec["n_responses"] = int(self.n_responses[j])
            rec["fixed"] = bool(self.fixed[j])
            items.append(rec)
        return {
            "model": self.model,
            "parameterization": "logistic, P = c + (1 - c) / (1 + exp(-a (theta - b))), no 1.7 constant",
            "backend": self.backend,
            "log_likelihood": _clean(self.log_likelihood),
            "log_prior": _clean(self.log_prior),
            "iterations": self.iterations,
            "converged": self.converged,
            "max_change": _clean(list(self.max_change)),
            "n_persons": int(self.n_persons),
            "n_items": self.n_items,
            "n_quadrature": None if self.quadrature_nodes is None else len(self.quadrature_nodes),
            "population": {"mean": _clean(self.population_mean), "sd": _clean(self.population_sd)},
            "se_method": self.se_method,
            "priors": {k: repr(v) for k, v in self.priors.items() if v is not None},
            "warnings": [w.to_dict() for w in self.warnings],
            "items": items,
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self) -> str:
        lines = [f"{self.model} calibration ({self.backend}): {self.n_persons} persons, {self.n_items} items, "
                 f"logL = {self.log_likelihood:.3f}, iterations = {self.iterations}, "
                 f"converged = {self.converged}"]
        for j, iid in enumerate(self.item_ids):
            b = self.b[j] if self.model != "GRM" else self.b[j, : int(self.n_categories[j]) - 1]
            c = "" if self.c is None else f" c={self.c[j]:.3f}"
            lines.append(f"  {iid}: a={self.a[j]:.3f} (se {self.se_a[j]:.3f}) b={np.round(b, 3)}{c}")
        for w in self.warnings:
            lines.append(f"  warning: {w.message}")
        return "\n".join(lines)
