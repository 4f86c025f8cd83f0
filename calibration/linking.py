"""Scale linking (Stocking & Lord, 1983; mean-sigma) and parameter drift.

A free calibration fixes its own sample at theta ~ N(0, 1); to put it on a
bank's scale we find A, B with theta_bank = A * theta_new + B, so that
a* = a / A, b* = A b + B, c* = c. Stocking-Lord chooses (A, B) minimising the
squared difference between the test characteristic curves of the common items
(bank parameters vs transformed new parameters), integrated over a N(0, 1)
grid on the bank scale (41 points on [-4, 4], normal weights).

Fixed-parameter calibration (holding bank items at their values during
estimation) is the alternative; it lives in :func:`calibration.fit` (``fixed=``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .errors import CalibrationInputError
from .models import make_model, resolve_model

__all__ = ["LinkingConstants", "stocking_lord", "mean_sigma", "transform_parameters",
           "apply_linking", "parameter_drift", "DriftReport"]


@dataclass(frozen=True)
class LinkingConstants:
    """theta_base = A * theta_new + B."""

    A: float
    B: float
    method: str
    items: tuple
    criterion: float = float("nan")

    def to_dict(self):
        return {"A": self.A, "B": self.B, "method": self.method, "items": list(self.items),
                "criterion": self.criterion}


def _as_param_table(source, model: str | None = None):
    """(model, {id: {"a", "b", "c"?, "se_a"?, "se_b"?}}) from a result or a mapping."""
    if hasattr(source, "item_parameters"):
        params = source.item_parameters()
        ses = source.standard_errors()
        for iid in params:
            params[iid] = dict(params[iid])
            params[iid]["se_a"] = ses[iid]["a"]
            params[iid]["se_b"] = ses[iid]["b"]
        return source.model, params
    if not isinstance(source, Mapping):
        raise CalibrationInputError("parameters must be a CalibrationResult or {item_id: {'a', 'b', ...}}")
    table = {str(k): dict(v) for k, v in source.items()}
    if model is None:
        any_c = any("c" in v for v in table.values())
        any_poly = any(np.ndim(v.get("b")) > 0 for v in table.values())
        model = "GRM" if any_poly else ("3PL" if any_c else "2PL")
    return resolve_model(model), table


def _params_array(table: dict, ids, model: str):
    """Slope-intercept parameter rows for the given ids (GRM thresholds padded)."""
    bs = [np.atleast_1d(np.asarray(table[i]["b"], dtype=float)) for i in ids]
    n_cat = np.asarray([len(b) + 1 for b in bs])
    mdl = make_model(model, n_cat)
    a = np.asarray([float(table[i].get("a", 1.0)) for i in ids])
    if model == "GRM":
        b = np.full((len(ids), int(n_cat.max()) - 1), 0.0)
        for k, v in enumerate(bs):
            b[k, : len(v)] = v
            b[k, len(v):] = v[-1]
        params = mdl.from_natural(a, b)
    else:
        c = np.asarray([float(table[i].get("c", 0.0)) for i in ids]) if model == "3PL" else None
        params = mdl.from_natural(a, np.concatenate(bs), c)
    return mdl, params


def _tcc(mdl, params, theta):
    P = mdl.probs(params, theta)
    return np.einsum("jkq,k->q", P, np.arange(P.shape[1]))


def mean_sigma(new, base, *, items=None, model: str | None = None) -> LinkingConstants:
    """Mean-sigma constants from the common items' difficulties (Stocking-Lord start values)."""
    m_new, t_new = _as_param_table(new, model)
    m_base, t_base = _as_param_table(base, model or m_new)
    ids = _common(t_new, t_base, items)
    bn = np.concatenate([np.atleast_1d(np.asarray(t_new[i]["b"], dtype=float)) for i in ids])
    bb = np.concatenate([np.atleast_1d(np.asarray(t_base[i]["b"], dtype=float)) for i in ids])
    sd_n = bn.std()
    A = float(bb.std() / sd_n) if sd_n > 0 else 1.0
    B = float(bb.mean() - A * bn.mean())
    return LinkingConstants(A, B, "mean-sigma", tuple(ids))


def _common(t_new, t_base, items):
    ids = [i for i in t_new if i in t_base] if items is None else [str(i) for i in items]
    missing = [i for i in ids if i not in t_new or i not in t_base]
    if missing:
        raise CalibrationInputError(f"linking items missing from one parameter set: {missing[:5]}")
    if len(ids) < 2:
        raise CalibrationInputError(f"linking needs at least 2 common items, found {len(ids)}")
    return ids


def stocking_lord(new, base, *, items=None, model: str | None = None, n_points: int = 41,
                  bound: float = 4.0) -> LinkingConstants:
    """Stocking-Lord (1983) characteristic-curve linking of ``new`` onto ``base``."""
    m_new, t_new = _as_param_table(new, model)
    _, t_base = _as_param_table(base, model or m_new)
    ids = _common(t_new, t_base, items)
    mdl_n, p_new = _params_array(t_new, ids, m_new)
    mdl_b, p_base = _params_array(t_base, ids, m_new)
    theta = np.linspace(-bound, bound, n_points)
    w = np.exp(-0.5 * theta ** 2)
    w /= w.sum()
    target = _tcc(mdl_b, p_base, theta)

    def loss(x):
        A, B = x
        if A <= 1e-6:
            return 1e12
        # new item at theta_base corresponds to theta_new = (theta - B) / A
        diff = target - _tcc(mdl_n, p_new, (theta - B) / A)
        return float(w @ diff ** 2)

    start = mean_sigma(t_new, t_base, items=ids, model=m_new)
    x0 = np.array([max(start.A, 0.05), start.B])
    if not np.isfinite(x0).all():
        x0 = np.array([1.0, 0.0])
    best = None
    for guess in (x0, np.array([1.0, 0.0])):
        res = optimize.minimize(loss, guess, method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-14, "maxiter": 4000})
        res = optimize.minimize(loss, res.x, method="BFGS", options={"gtol": 1e-10})
        if best is None or res.fun < best.fun:
            best = res
    A, B = (float(v) for v in best.x)
    return LinkingConstants(A, B, "stocking-lord", tuple(ids), float(best.fun))


def transform_parameters(params: Mapping, A: float, B: float) -> dict:
    """Put {id: {"a", "b", "c"?, "se_a"?, "se_b"?}} on the base scale (SEs scaled, linking error ignored)."""
    out = {}
    for iid, p in params.items():
        q = dict(p)
        q["a"] = float(p["a"]) / A
        b = np.asarray(p["b"], dtype=float)
        q["b"] = (A * b + B).tolist() if b.ndim else float(A * b + B)
        if p.get("se_a") is not None:
            q["se_a"] = float(p["se_a"]) / A
        if p.get("se_b") is not None:
            sb = np.asarray(p["se_b"], dtype=float)
            q["se_b"] = (A * sb).tolist() if sb.ndim else float(A * sb)
        out[iid] = q
    return out


def apply_linking(result, constants: LinkingConstants) -> dict:
    """Linked parameter table of a CalibrationResult (new items land on the base scale)."""
    _, table = _as_param_table(result)
    return transform_parameters(table, constants.A, constants.B)


@dataclass
class DriftReport:
    """Per-item change of linked parameters relative to their standard errors."""

    constants: LinkingConstants
    items: list                 # dicts per common item
    threshold: float

    @property
    def flagged(self) -> list:
        return [r["id"] for r in self.items if r["flagged"]]

    def to_dict(self):
        return {"linking": self.constants.to_dict(), "z_threshold": self.threshold, "items": self.items,
                "flagged": self.flagged}


def parameter_drift(new, published, *, z_threshold: float = 3.0, link: str = "stocking-lord",
                    purify: bool = True, max_rounds: int = 10, min_abs_change: float = 0.0,
                    model: str | None = None) -> DriftReport:
    """Flag items whose linked a or b moved more than ``z_threshold`` standard errors.

    z = (new linked - published) / sqrt(se_new^2 + se_published^2), using the
    published SEs when given. With ``purify`` the linking is re-run without the
    flagged items until the flagged set is stable (drifting items must not drag
    the scale). ``link="none"`` compares without linking (already on one scale).
    ``min_abs_change`` additionally requires a practically relevant change.
    """
    m_new, t_new = _as_param_table(new, model)
    _, t_pub = _as_param_table(published, model or m_new)
    ids = _common(t_new, t_pub, None)
    flagged: set = set()
    constants = LinkingConstants(1.0, 0.0, "none", tuple(ids))
    for _ in range(max_rounds):
        anchors = [i for i in ids if i not in flagged]
        if link == "stocking-lord":
            if len(anchors) < 2:
                raise CalibrationInputError("fewer than 2 non-drifting items left to link on")
            constants = stocking_lord(t_new, t_pub, items=anchors, model=m_new)
        elif link == "mean-sigma":
            constants = mean_sigma(t_new, t_pub, items=anchors, model=m_new)
        elif link != "none":
            raise CalibrationInputError(f"unknown link {link!r}")
        linked = transform_parameters({i: t_new[i] for i in ids}, constants.A, constants.B)
        rows = []
        new_flags = set()
        for i in ids:
            pub, cur = t_pub[i], linked[i]
            row = {"id": i, "used_for_linking": i in anchors}
            reasons = []
            for key in ("a", "b"):
                v_new = np.atleast_1d(np.asarray(cur[key], dtype=float))
                v_pub = np.atleast_1d(np.asarray(pub[key], dtype=float))
                se_new = np.atleast_1d(np.asarray(cur.get(f"se_{key}", np.nan), dtype=float))
                se_pub = np.atleast_1d(np.asarray(pub.get(f"se_{key}", 0.0) or 0.0, dtype=float))
                se = np.sqrt(np.nan_to_num(se_new, nan=0.0) ** 2 + se_pub ** 2)
                delta = v_new - v_pub
                with np.errstate(divide="ignore", invalid="ignore"):
                    z = np.where(se > 0, delta / se, np.nan)
                k = int(np.nanargmax(np.abs(z))) if np.isfinite(z).any() else int(np.argmax(np.abs(delta)))
                row[f"{key}_published"] = _num(v_pub)
                row[f"{key}_linked"] = _num(v_new)
                row[f"delta_{key}"] = _num(delta)
                row[f"z_{key}"] = _num(z)
                if np.isfinite(z[k]) and abs(z[k]) > z_threshold and abs(delta[k]) >= min_abs_change:
                    reasons.append(f"{key} moved {delta[k]:+.3f} ({z[k]:+.1f} SE)")
            row["flagged"] = bool(reasons)
            row["reason"] = "; ".join(reasons)
            if reasons:
                new_flags.add(i)
            rows.append(row)
        if not purify or new_flags == flagged or link == "none":
            flagged = new_flags
            break
        flagged = new_flags
    return DriftReport(constants, rows, z_threshold)


def _num(x):
    x = np.atleast_1d(np.asarray(x, dtype=float))
    vals = [float(v) if np.isfinite(v) else None for v in x]
    return vals[0] if len(vals) == 1 else vals
