"""The calibration problem: what is fixed before estimation starts.

Data, model, categories, priors, anchor items, start values and the E-step
design are validated and built once here, then read by the EM
(:func:`calibration.mml.run_em`), the girth backend and the result builder,
so none of them needs a long argument list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .data import ResponseData, count_values, read_responses
from .errors import CalibrationInputError
from .mml import Design, Quadrature
from .models import Beta, GradedModel, ThreePLModel, make_model, parse_prior, resolve_model

__all__ = ["CalibrationProblem", "default_priors", "merge_priors", "as_response_data", "category_counts"]


def default_priors(model: str) -> dict:
    """3PL: Beta(5, 17) on c (BILOG-style, 5-option items); other models: none."""
    return {"c": Beta(5.0, 17.0)} if resolve_model(model) == "3PL" else {}


def merge_priors(model: str, priors: Mapping | None) -> dict:
    """User priors over the model's defaults; a value of None removes a prior."""
    merged = default_priors(model)
    if priors:
        for key, spec in dict(priors).items():
            if key not in ("a", "b", "c", "d"):
                raise CalibrationInputError(f"priors: unknown parameter {key!r} (use a, b, c or d)")
            merged[key] = parse_prior(spec)
    return {k: v for k, v in merged.items() if v is not None}


def as_response_data(responses) -> ResponseData:
    """ResponseData as given, read from a path, or from a dense persons x items array."""
    if isinstance(responses, ResponseData):
        return responses
    if isinstance(responses, (str, os.PathLike)):
        return read_responses(responses)
    return ResponseData.from_dense(responses)


def category_counts(data: ResponseData, k_max: int) -> np.ndarray:
    """Responses per item and category, (J, K); one pass per category, no big temporaries."""
    J = data.n_items
    out = np.zeros((J, k_max), dtype=np.int64)
    total = data.item_counts()
    for m in range(1, k_max):
        out[:, m] = count_values(data.item_idx[data.score == m], J)
    out[:, 0] = total - out[:, 1:].sum(axis=1)
    return out


def _categories(data: ResponseData, name: str, n_categories) -> np.ndarray:
    """Number of categories per item; scores outside them are input errors."""
    J = data.n_items
    if name in ("1PL", "RASCH", "2PL", "3PL"):
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
    top = data.max_scores() if name == "GRM" else np.full(J, int(data.score.max()))
    if np.any(top >= n_cat):                  # only now look for the offending cell
        over = data.score >= n_cat[data.item_idx]
        k = int(np.nonzero(over)[0][0])
        allowed = "0 or 1" if name != "GRM" else f"0..{n_cat[data.item_idx[k]] - 1}"
        raise CalibrationInputError(
            f"{data.locate(k)}: score {data.score[k]} is outside the {name} model's categories "
            f"({allowed})" + ("; use model='GRM' for polytomous items" if name != "GRM" else ""))
    return n_cat


def _cumulative_proportions(data: ResponseData, n_cat: np.ndarray) -> np.ndarray:
    """Observed P(X >= m) per item, m = 1..K-1 (start values)."""
    counts = category_counts(data, int(n_cat.max()))
    tail = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    return tail[:, 1:] / counts.sum(axis=1, keepdims=True)


def _fixed_rows(fixed: Mapping, data: ResponseData, model) -> dict:
    """Validate ``fixed`` and convert it to slope-intercept parameter rows by item index."""
    name = model.name
    rows = {}
    for iid, spec in dict(fixed).items():
        j = data.item_index(iid)
        if not isinstance(spec, Mapping) or "b" not in spec:
            raise CalibrationInputError(f"fixed['{iid}'] must be a mapping with at least 'b' (and 'a', 'c')")
        a = float(spec.get("a", 1.0))
        if name in ("2PL", "3PL", "GRM") and "a" not in spec:
            raise CalibrationInputError(f"fixed['{iid}']: missing 'a'")
        b = np.atleast_1d(np.asarray(spec["b"], dtype=float))
        if name == "GRM" and len(b) != model.n_cat[j] - 1:
            raise CalibrationInputError(
                f"fixed['{iid}']: {len(b)} thresholds given, item has {model.n_cat[j]} categories")
        c = float(spec.get("c", 0.0))
        rows[j] = model.from_natural(np.array([a]), b[None, :] if name == "GRM" else b,
                                     np.array([c]) if name == "3PL" else None)[0]
    return rows


@dataclass(eq=False)
class CalibrationProblem:
    """Everything an estimator needs besides its own settings.

    ``start`` holds start values with anchor items already at their bank
    values; ``free`` marks the (item, parameter) entries to estimate (anchors
    and the Rasch slope are not free); ``estimate_population`` moves the
    ability mean and SD, which only anchors can identify.
    """

    data: ResponseData
    model: GradedModel | ThreePLModel
    n_cat: np.ndarray
    priors: dict
    start: np.ndarray
    free: np.ndarray
    is_fixed: np.ndarray
    quad: Quadrature
    design: Design
    estimate_population: bool = False

    @classmethod
    def build(cls, data: ResponseData, model: str, *, n_categories=None, priors: dict | None = None,
              fixed: Mapping | None = None, estimate_population: bool | None = None,
              n_quadrature: int = 41, quadrature_bound: float = 6.0) -> CalibrationProblem:
        """Validate the inputs and build the problem; ``priors`` is the complete prior map (see
        :func:`merge_priors`), used as given."""
        name = resolve_model(model)
        n_cat = _categories(data, name, n_categories)
        mdl = make_model(name, n_cat)
        start = mdl.start(_cumulative_proportions(data, n_cat))
        free = mdl.param_mask()
        if name == "RASCH":
            free[:, 0] = False
        fixed_rows = _fixed_rows(fixed, data, mdl) if fixed else {}
        is_fixed = np.zeros(data.n_items, dtype=bool)
        for j, row in fixed_rows.items():
            start[j] = row
            free[j] = False
            is_fixed[j] = True
        if estimate_population is None:
            estimate_population = bool(fixed_rows)
        if estimate_population and not fixed_rows:
            raise CalibrationInputError("estimate_population needs fixed (anchor) items to identify the scale")
        quad = Quadrature(n_quadrature, quadrature_bound)
        design = Design(data, n_cat, len(quad.z))
        return cls(data=data, model=mdl, n_cat=n_cat, priors=dict(priors or {}), start=start, free=free,
                   is_fixed=is_fixed, quad=quad, design=design, estimate_population=bool(estimate_population))

    @property
    def name(self) -> str:
        """Resolved model name: "1PL", "RASCH", "2PL", "3PL" or "GRM"."""
        return self.model.name

    @property
    def shared_a(self) -> bool:
        """1PL: one slope shared by all free items."""
        return self.model.name == "1PL"

    @property
    def a_prior(self):
        """Prior on the shared 1PL slope (counted once, not per item)."""
        return self.priors.get("a") if self.shared_a else None

    @cached_property
    def mask(self) -> np.ndarray:
        """Real (not padding) entries of the (J, p) parameter table."""
        return self.model.param_mask()
