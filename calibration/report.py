"""Psychometric review report for a calibration run (pure functions, no I/O, no database).

``build_report(result, responses, ...)`` turns a :class:`CalibrationResult` (plus, when
available, the response data, the currently published parameters, live exposure rates
and a DIF grouping) into a :class:`Report`: a summary, one row per item with its
parameters, standard errors, S-X2 fit and flags with reasons, the drift / DIF /
exposure tables and PNG figures (item characteristic curves, item and test
information). ``render_html(report)`` and ``render_pdf(report)`` present it.

Flags (codes in ``Flag.code``; thresholds in :class:`ReviewThresholds`):

=====================  ===================================================================
``low_discrimination``   a < ``a_min`` (0.3)
``high_discrimination``  a > ``a_max`` (3.5)
``extreme_difficulty``   \\|b\\| > ``b_abs_max`` (3.5), any GRM threshold
``high_guessing``        c > ``c_max`` (0.4), 3PL only
``imprecise_difficulty`` SE(b) > ``se_b_max`` (0.5), largest GRM threshold SE
``misfit``               S-X2 p < ``fit_alpha`` (0.01)
``few_responses``        fewer than ``min_responses`` responses (free items only)
``dif``                  Mantel-Haenszel ETS category in ``dif_categories`` (C)
``drift``                linked a or b moved more than ``drift_z`` (3) standard errors
``overexposed``          live exposure rate > ``exposure_max`` (0.3)
``not_converged``        the item's estimates were still moving when EM stopped (all free
                         items when the run did not converge and no item was singled out)
``mstep_failed``, ``no_variation``, ``empty_category``, ``extreme_estimate``
                         item-level warnings of the calibration itself
=====================  ===================================================================

Analyses that cannot run are *skipped with a stated reason* (``Analysis.status ==
"skipped"``, ``Analysis.reason``) instead of failing: S-X2 needs complete response
vectors (sparse adaptive data: pass ``fit_items=`` a block administered together),
Mantel-Haenszel needs dichotomous items and both groups, drift needs at least two
items in common with ``published``.

DIF grouping (``groups=``), a mapping with

* ``"reference"``, ``"focal"``: the two group labels (required);
* the labels, either ``"labels"``: {person id: label} or ``"person_ids"`` + ``"group"``:
  two parallel lists, or ``"group"`` alone: one label per person in ``responses``
  order; person ids are compared as strings, persons without a label are ignored;
* ``"matching"`` (optional): ``"total"`` (total score, complete cases only),
  ``"ability"`` (EAP ability binned into ``"n_strata"`` quantile strata, default 10;
  works for sparse data) or ``"auto"`` (default: total score when at least 90% of the
  persons answered every item, otherwise ability);
* ``"name"`` (optional): what the grouping is, e.g. ``"language"``, shown in the report.

HTML: the output contains no ``style`` attributes or ``<style>`` elements (the app's
CSP is ``style-src 'self'``); figures are ``data:image/png`` URIs. Class names to style:
``calib-report`` (root), ``calib-meta``, ``calib-section`` (+ ``calib-summary``,
``calib-flagged``, ``calib-figures``, ``calib-items``, ``calib-fit``, ``calib-drift``,
``calib-dif``, ``calib-exposure``), ``calib-table``, ``num`` (numeric cells),
``is-flagged`` (rows), ``calib-flag`` and ``calib-flag-<code>`` (flag badges),
``calib-reason``, ``calib-skipped``, ``calib-note``, ``calib-ok``, ``calib-warnings``, ``calib-notes``,
``calib-analyses`` with ``calib-analysis-done`` / ``-skipped`` / ``-not-requested`` items,
``calib-summary-table``, ``calib-fixed``, ``calib-figure`` (+ ``calib-figure-<key>``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .data import ResponseData
from .errors import CalibrationInputError
from .result import CalibrationResult

__all__ = ["build_report", "render_html", "render_pdf", "Report", "ItemRow", "Flag", "Analysis",
           "ReviewThresholds", "item_information"]

FLAG_LABELS = {
    "low_discrimination": "low a",
    "high_discrimination": "high a",
    "extreme_difficulty": "extreme b",
    "high_guessing": "high c",
    "imprecise_difficulty": "SE b",
    "misfit": "misfit",
    "few_responses": "few responses",
    "dif": "DIF",
    "drift": "drift",
    "overexposed": "exposure",
    "not_converged": "not converged",
    "mstep_failed": "M-step",
    "no_variation": "no variation",
    "empty_category": "empty category",
    "extreme_estimate": "extreme estimate",
}
_WARNING_FLAGS = ("mstep_failed", "no_variation", "empty_category", "extreme_estimate")


# --------------------------------------------------------------------------- data model

@dataclass(frozen=True)
class ReviewThresholds:
    """Flagging rules (see the module docstring)."""

    a_min: float = 0.3
    a_max: float = 3.5
    b_abs_max: float = 3.5
    se_b_max: float = 0.5
    c_max: float = 0.4
    fit_alpha: float = 0.01
    drift_z: float = 3.0
    exposure_max: float = 0.3
    dif_categories: tuple = ("C",)


@dataclass(frozen=True)
class Flag:
    code: str
    reason: str

    def to_dict(self):
        return {"code": self.code, "reason": self.reason}


@dataclass
class ItemRow:
    """One item: parameters (``b``/``se_b`` are lists for GRM thresholds) and review results."""

    id: str
    a: float | None
    b: float | list | None
    c: float | None
    se_a: float | None
    se_b: float | list | None
    n_responses: int
    fixed: bool = False
    s_x2: float | None = None
    s_x2_df: int | None = None
    s_x2_p: float | None = None
    dif_category: str | None = None
    dif_delta: float | None = None
    drift_z_a: float | None = None
    drift_z_b: float | None = None
    drift_flagged: bool | None = None
    exposure: float | None = None
    flags: list = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def reasons(self) -> list:
        return [f.reason for f in self.flags]

    @property
    def flag_codes(self) -> list:
        return [f.code for f in self.flags]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = [f.to_dict() for f in self.flags]
        return d


@dataclass
class Analysis:
    """A secondary analysis: ``status`` "done", "skipped" (``reason`` says why) or "not requested"."""

    name: str
    status: str
    reason: str = ""
    rows: list = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "reason": self.reason, "rows": self.rows,
                "details": self.details}


@dataclass
class Report:
    """Everything a reviewer needs; ``figures`` are PNG bytes keyed "icc", "iif", "tif" (and "drift")."""

    run_label: str
    generated_at: str
    summary: dict
    items: list
    fit: Analysis
    drift: Analysis
    dif: Analysis
    exposure: Analysis
    thresholds: ReviewThresholds
    min_responses: int
    figures: dict = field(default_factory=dict)
    figure_captions: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def flagged(self) -> list:
        """Flagged item rows, most flags first."""
        rows = [r for r in self.items if r.flags]
        return sorted(rows, key=lambda r: -len(r.flags))

    def item(self, item_id) -> ItemRow:
        for r in self.items:
            if r.id == str(item_id):
                return r
        raise KeyError(item_id)

    def flag_counts(self) -> dict:
        counts: dict = {}
        for r in self.items:
            for f in r.flags:
                counts[f.code] = counts.get(f.code, 0) + 1
        return counts

    def to_dict(self) -> dict:
        """JSON-ready (figures are listed by name only)."""
        return _json_safe({
            "run_label": self.run_label, "generated_at": self.generated_at, "summary": self.summary,
            "thresholds": {**asdict(self.thresholds), "min_responses": self.min_responses},
            "flag_counts": self.flag_counts(),
            "flagged": [{"id": r.id, "flags": [f.to_dict() for f in r.flags]} for r in self.flagged],
            "items": [r.to_dict() for r in self.items],
            "fit": self.fit.to_dict(), "drift": self.drift.to_dict(), "dif": self.dif.to_dict(),
            "exposure": self.exposure.to_dict(), "figures": sorted(self.figures),
            "notes": list(self.notes),
        })


# --------------------------------------------------------------------------- helpers

def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_json_safe(v) for v in x.tolist()]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return _num(x)
    return x


def _natural(s) -> list:
    """Sort key putting item2 before item10."""
    import re
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(s)) if t]


def _fmt(x, digits: int = 2) -> str:
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in x) if x else "–"
    v = _num(x)
    if v is None:
        return "–"
    return f"{v:.{digits}f}"


def _fmt_p(p) -> str:
    v = _num(p)
    if v is None:
        return "–"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _vec(row, k: int):
    """Finite thresholds of a GRM row (first k) or a scalar."""
    return [_num(v) for v in np.asarray(row, dtype=float)[:k]]


# --------------------------------------------------------------------------- build

def build_report(result: CalibrationResult, responses: ResponseData | None = None, *,
                 published: Mapping[str, Mapping] | None = None,
                 exposure: Mapping[str, float] | None = None,
                 groups: Mapping | None = None,
                 run_label: str = "",
                 min_responses: int = 50,
                 thresholds: ReviewThresholds | None = None,
                 fit_items: Sequence | None = None,
                 drift_link: str = "auto",
                 figures: bool = True,
                 max_icc_panels: int = 16) -> Report:
    """Review report for one calibration run.

    result: the calibration. responses: the data it was fitted on (needed for S-X2,
    DIF and the empirical points of the ICC figure; without it those are skipped).
    published: {item id: {"a", "b", "c"?, "se_a"?, "se_b"?}} currently in the bank; drift
    links the new calibration to it (Stocking-Lord, purified) unless ``drift_link`` says
    otherwise ("auto": "none" when the run held items fixed, i.e. is already on the bank
    scale, else "stocking-lord"; or "stocking-lord", "mean-sigma", "none").
    exposure: {item id: exposure rate in live exams}. groups: DIF grouping (module
    docstring). fit_items: item block answered together for S-X2 on sparse data.
    figures=False skips the matplotlib figures (faster).
    """
    th = thresholds or ReviewThresholds()
    notes: list[str] = []
    if responses is not None and not isinstance(responses, ResponseData):
        responses = ResponseData.from_dense(responses, item_ids=result.item_ids)
    rows = _item_rows(result)
    by_id = {r.id: r for r in rows}
    data = _restrict(responses, result, notes) if responses is not None else None

    fit_an = _fit_analysis(result, data, fit_items, th)
    drift_an = _drift_analysis(result, published, th, drift_link)
    eap_cache: dict = {}
    dif_an = _dif_analysis(result, data, groups, eap_cache)
    exp_an = _exposure_analysis(exposure, by_id, th)

    # ---- merge analyses into the item rows
    for r in fit_an.rows:
        row = by_id[r["id"]]
        row.s_x2, row.s_x2_df, row.s_x2_p = r["s_x2"], r["df"], r["p_value"]
    for r in drift_an.rows:
        if r["id"] in by_id:
            row = by_id[r["id"]]
            row.drift_flagged = r["flagged"]
            row.drift_z_a = _first(r.get("z_a"))
            row.drift_z_b = _maxabs(r.get("z_b"))
    for r in dif_an.rows:
        row = by_id.get(r["id"])
        if row is not None:
            row.dif_category, row.dif_delta = r["ets_category"], r["mh_d_dif"]
    for r in exp_an.rows:
        if r["id"] in by_id:
            by_id[r["id"]].exposure = r["exposure"]

    _flag(result, rows, th, min_responses, fit_an, drift_an, dif_an, exp_an)

    summary = _summary(result, responses, rows)
    report = Report(run_label=str(run_label or ""),
                    generated_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                    summary=summary, items=rows, fit=fit_an, drift=drift_an, dif=dif_an,
                    exposure=exp_an, thresholds=th, min_responses=int(min_responses), notes=notes)
    if figures:
        _make_figures(report, result, data, eap_cache, max_icc_panels)
    return report


def _first(v):
    if isinstance(v, list):
        return _num(v[0]) if v else None
    return _num(v)


def _maxabs(v):
    if isinstance(v, list):
        vals = [x for x in (_num(u) for u in v) if x is not None]
        return max(vals, key=abs) if vals else None
    return _num(v)


def _restrict(responses: ResponseData, result: CalibrationResult, notes: list) -> ResponseData | None:
    """Responses to the calibrated items only (in the data's order)."""
    known = set(result.item_ids)
    ids = [i for i in responses.item_ids if i in known]
    extra = len(responses.item_ids) - len(ids)
    if extra:
        notes.append(f"{extra} item(s) in the response data are not in the calibration and were ignored")
    if not ids:
        notes.append("the response data share no items with the calibration; data-based analyses skipped")
        return None
    return responses if not extra else responses.subset(items=ids)


def _item_rows(result: CalibrationResult) -> list:
    rows = []
    grm = result.model == "GRM"
    for j, iid in enumerate(result.item_ids):
        k = int(result.n_categories[j]) - 1
        if grm:
            b, se_b = _vec(result.b[j], k), _vec(result.se_b[j], k)
        else:
            b, se_b = _num(result.b[j]), _num(result.se_b[j])
        rows.append(ItemRow(
            id=str(iid), a=_num(result.a[j]), b=b,
            c=None if result.c is None else _num(result.c[j]),
            se_a=_num(result.se_a[j]), se_b=se_b,
            n_responses=int(result.n_responses[j]), fixed=bool(result.fixed[j])))
    return rows


def _summary(result: CalibrationResult, responses, rows) -> dict:
    s = {
        "model": result.model, "backend": result.backend, "persons": int(result.n_persons),
        "items": int(result.n_items), "log_likelihood": _num(result.log_likelihood),
        "iterations": result.iterations, "converged": result.converged,
        "se_method": result.se_method, "population_mean": _num(result.population_mean),
        "population_sd": _num(result.population_sd), "fixed_items": int(np.sum(result.fixed)),
        "responses": int(np.sum(result.n_responses)),
        "warnings": [w.message for w in result.warnings],
        "flagged_items": sum(1 for r in rows if r.flags),
    }
    if responses is not None:
        s["density"] = _num(responses.density)
    return s


# ---- S-X2

def _fit_analysis(result, data, fit_items, th) -> Analysis:
    if data is None:
        return Analysis("S-X2 item fit", "skipped", "no response data supplied")
    items = None
    if fit_items is not None:
        known = set(data.item_ids)
        items = [str(i) for i in fit_items if str(i) in known]
        if len(items) < 2:
            return Analysis("S-X2 item fit", "skipped",
                            f"fit_items has {len(items)} item(s) present in the response data; S-X2 needs 2 or more")
    try:
        res = _s_x2(result, data, items)
    except CalibrationInputError as exc:
        msg = str(exc).split("; pass items=")[0]
        reason = (f"{msg}. Summed-score fit statistics need response vectors complete on a common item "
                  f"set, which adaptive tests rarely give; pass fit_items= a block of items administered "
                  f"together (e.g. a fixed linking form)")
        return Analysis("S-X2 item fit", "skipped", reason)
    rows = []
    for j, iid in enumerate(res.item_ids):
        rows.append({"id": iid, "s_x2": _num(res.statistic[j]), "df": int(res.df[j]),
                     "p_value": _num(res.p_value[j]), "n_groups": int(res.n_groups[j])})
    no_df = [r["id"] for r in rows if r["p_value"] is None]
    reason = ""
    if no_df:
        reason = f"no p-value for {len(no_df)} item(s): too few score groups for the degrees of freedom"
    return Analysis("S-X2 item fit", "done", reason, rows,
                    {"n_persons": res.n_persons, "n_items": len(res.item_ids), "alpha": th.fit_alpha,
                     "statistic": "S-X2 (Orlando & Thissen 2000)",
                     "block": items is not None})


def _s_x2(result, data, items):
    from .fit_stats import s_x2
    return s_x2(result, data, items=items)


# ---- drift

def _drift_analysis(result, published, th, link) -> Analysis:
    name = "Parameter drift"
    if not published:
        return Analysis(name, "not requested", "no published parameters supplied")
    from .linking import parameter_drift
    table = {}
    for k, v in published.items():
        if isinstance(v, Mapping) and v.get("a") is not None and v.get("b") is not None:
            table[str(k)] = {kk: vv for kk, vv in v.items() if vv is not None}
    common = [i for i in result.item_ids if i in table]
    if len(common) < 2:
        return Analysis(name, "skipped", f"only {len(common)} calibrated item(s) have published parameters; "
                                          f"drift needs at least 2 in common")
    if link == "auto":
        link = "none" if np.any(result.fixed) else "stocking-lord"
    # fixed (anchor) items are the published values by construction: compare the free ones
    free_common = [i for i in common if not result.fixed[result.item_index(i)]]
    if link == "none" and not free_common:
        return Analysis(name, "skipped", "every item with published parameters was held fixed")
    try:
        rep = parameter_drift(result, {i: table[i] for i in common}, z_threshold=th.drift_z, link=link)
    except (CalibrationInputError, ValueError, KeyError, TypeError) as exc:
        return Analysis(name, "skipped", f"drift could not be computed: {exc}")
    rows = []
    for r in rep.items:
        fixed = bool(result.fixed[result.item_index(r["id"])])
        rows.append({**r, "fixed": fixed, "flagged": bool(r["flagged"]) and not fixed})
    c = rep.constants
    return Analysis(name, "done", "", rows,
                    {"link": c.method, "A": _num(c.A), "B": _num(c.B), "z_threshold": th.drift_z,
                     "n_common": len(common), "n_linking": sum(1 for r in rows if r.get("used_for_linking")),
                     "published_ses": any("se_b" in table[i] for i in common)})


# ---- DIF

def _dif_analysis(result, data, groups, eap_cache) -> Analysis:
    name = "Mantel-Haenszel DIF"
    if not groups:
        return Analysis(name, "not requested", "no DIF grouping supplied")
    if data is None:
        return Analysis(name, "skipped", "DIF needs the response data")
    if result.model == "GRM" or int(data.score.max()) > 1:
        return Analysis(name, "skipped", "Mantel-Haenszel DIF is implemented for dichotomous (0/1) items only")
    try:
        ref, foc = groups["reference"], groups["focal"]
    except (KeyError, TypeError):
        return Analysis(name, "skipped", "groups must give 'reference' and 'focal' labels")
    try:
        labels = _group_labels(groups, data)
    except CalibrationInputError as exc:
        return Analysis(name, "skipped", str(exc))
    n_ref = int(np.sum(labels == ref))
    n_foc = int(np.sum(labels == foc))
    details = {"reference": str(ref), "focal": str(foc), "grouping": str(groups.get("name", "") or ""),
               "n_reference_persons": n_ref, "n_focal_persons": n_foc}
    if n_ref == 0 or n_foc == 0:
        return Analysis(name, "skipped", f"need persons in both groups: {n_ref} reference ({ref!s}), "
                                         f"{n_foc} focal ({foc!s}) among the respondents", details=details)
    matching = str(groups.get("matching", "auto"))
    complete = data.person_counts() == data.n_items
    if matching == "auto":
        matching = "total" if complete.mean() >= 0.9 else "ability"
    if matching == "total":
        match_arg: Any = "total"
        details["matching"] = f"total score ({int(complete.sum())} complete cases)"
    elif matching == "ability":
        n_strata = int(groups.get("n_strata", 10))
        theta = _eap(result, data, eap_cache)[0]
        edges = np.unique(np.quantile(theta, np.linspace(0, 1, n_strata + 1)[1:-1]))
        match_arg = np.digitize(theta, edges).astype(np.int64)
        details["matching"] = f"EAP ability in {len(edges) + 1} quantile strata"
    else:
        return Analysis(name, "skipped", f"unknown matching {matching!r} (use 'auto', 'total' or 'ability')",
                        details=details)
    from .dif import mantel_haenszel
    try:
        res = mantel_haenszel(data, labels, reference=ref, focal=foc, matching=match_arg)
    except CalibrationInputError as exc:
        return Analysis(name, "skipped", f"DIF could not be computed: {exc}", details=details)
    out = res.to_dict()
    details["n_strata"] = res.n_strata
    return Analysis(name, "done", "", out["items"], details)


def _group_labels(groups, data) -> np.ndarray:
    N = data.n_persons
    if "labels" in groups:
        lab = {str(k): v for k, v in dict(groups["labels"]).items()}
        return np.asarray([lab.get(str(p)) for p in data.person_ids], dtype=object)
    g = list(groups.get("group", []))
    if "person_ids" in groups:
        pids = list(groups["person_ids"])
        if len(pids) != len(g):
            raise CalibrationInputError(f"groups: {len(pids)} person_ids but {len(g)} group labels")
        lab = {str(k): v for k, v in zip(pids, g)}
        return np.asarray([lab.get(str(p)) for p in data.person_ids], dtype=object)
    if len(g) != N:
        raise CalibrationInputError(f"groups: {len(g)} labels for {N} persons (give person_ids or labels)")
    out = np.empty(N, dtype=object)
    out[:] = g
    return out


def _eap(result, data, cache):
    if "eap" not in cache:
        cache["eap"] = result.eap(data)
    return cache["eap"]


# ---- exposure

def _exposure_analysis(exposure, by_id, th) -> Analysis:
    name = "Exposure"
    if not exposure:
        return Analysis(name, "not requested", "no exposure rates supplied")
    rows = []
    for k, v in exposure.items():
        rate = _num(v)
        rows.append({"id": str(k), "exposure": rate, "in_calibration": str(k) in by_id,
                     "flagged": rate is not None and rate > th.exposure_max + 1e-12})
    rows.sort(key=lambda r: -(r["exposure"] if r["exposure"] is not None else -1))
    rates = [r["exposure"] for r in rows if r["exposure"] is not None]
    return Analysis(name, "done", "", rows,
                    {"max_rate": th.exposure_max, "n_items": len(rows),
                     "mean": float(np.mean(rates)) if rates else None,
                     "max": max(rates) if rates else None,
                     "n_over": sum(r["flagged"] for r in rows)})


# ---- flags

def _flag(result, rows, th, min_responses, fit_an, drift_an, dif_an, exp_an):
    item_warn: dict = {}
    for w in result.warnings:
        if w.item is not None:
            item_warn.setdefault(str(w.item), []).append(w)
    moving = {i for i, ws in item_warn.items() if any(w.code == "item_not_converged" for w in ws)}
    run_not_converged = result.converged is False
    fit_by = {r["id"]: r for r in fit_an.rows}
    drift_by = {r["id"]: r for r in drift_an.rows}
    dif_by = {r["id"]: r for r in dif_an.rows}
    exp_by = {r["id"]: r for r in exp_an.rows}
    for row in rows:
        f = row.flags
        a = row.a
        if a is not None and result.model.upper() != "RASCH":
            if a < th.a_min:
                f.append(Flag("low_discrimination", f"a = {a:.2f} < {th.a_min:g}"))
            elif a > th.a_max:
                f.append(Flag("high_discrimination", f"a = {a:.2f} > {th.a_max:g}"))
        bs = [v for v in (row.b if isinstance(row.b, list) else [row.b]) if v is not None]
        if bs and max(abs(v) for v in bs) > th.b_abs_max:
            v = max(bs, key=abs)
            f.append(Flag("extreme_difficulty", f"|b| = {abs(v):.2f} > {th.b_abs_max:g}"))
        if row.c is not None and row.c > th.c_max:
            f.append(Flag("high_guessing", f"c = {row.c:.2f} > {th.c_max:g}"))
        ses = [v for v in (row.se_b if isinstance(row.se_b, list) else [row.se_b]) if v is not None]
        if ses and max(ses) > th.se_b_max:
            f.append(Flag("imprecise_difficulty", f"SE(b) = {max(ses):.2f} > {th.se_b_max:g}"))
        fr = fit_by.get(row.id)
        if fr and fr["p_value"] is not None and fr["p_value"] < th.fit_alpha:
            pv = fr["p_value"]
            ptxt = "p < 0.001" if pv < 0.001 else f"p = {pv:.3f} < {th.fit_alpha:g}"
            f.append(Flag("misfit", f"S-X2 = {fr['s_x2']:.1f} on {fr['df']} df, {ptxt}"))
        if not row.fixed and row.n_responses < min_responses:
            f.append(Flag("few_responses", f"{row.n_responses} responses < {min_responses}"))
        dr = dif_by.get(row.id)
        if dr and dr["ets_category"] in th.dif_categories:
            favours = dr.get("favours")
            f.append(Flag("dif", f"ETS category {dr['ets_category']}: MH D-DIF = {_fmt(dr['mh_d_dif'])}"
                                 + (f" (favours {favours} group)" if favours else "")))
        xr = drift_by.get(row.id)
        if xr and xr["flagged"]:
            f.append(Flag("drift", f"drift vs published: {xr['reason']}"))
        er = exp_by.get(row.id)
        if er and er["flagged"]:
            f.append(Flag("overexposed", f"exposure {er['exposure']:.2f} > {th.exposure_max:g}"))
        if not row.fixed and (row.id in moving or (run_not_converged and not moving)):
            f.append(Flag("not_converged", "estimates still changing when EM stopped"
                          if row.id in moving else "calibration did not converge"))
        have = {x.code for x in f}
        range_flags = {"low_discrimination", "high_discrimination", "extreme_difficulty", "high_guessing"}
        for w in item_warn.get(row.id, []):
            if w.code not in _WARNING_FLAGS:
                continue
            if w.code == "extreme_estimate" and have & range_flags:
                continue
            f.append(Flag(w.code, w.message))


# --------------------------------------------------------------------------- figures

def item_information(result: CalibrationResult, theta) -> np.ndarray:
    """Fisher information of each item at ``theta``: (items, len(theta)).

    I_j(θ) = Σ_k P'_jk(θ)² / P_jk(θ), derivatives by central differences, so it holds for
    every model (2PL/3PL/GRM ...)."""
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    h = 1e-4
    P = result.probabilities(theta)
    dP = (result.probabilities(theta + h) - result.probabilities(theta - h)) / (2 * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 1e-300, dP ** 2 / np.where(P > 1e-300, P, 1.0), 0.0)
    return terms.sum(axis=1)


def _new_figure(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _theta_grid(result, n=161):
    mu, sd = float(result.population_mean), float(result.population_sd)
    if not (math.isfinite(mu) and math.isfinite(sd) and sd > 0):
        mu, sd = 0.0, 1.0
    return np.linspace(mu - 4 * sd, mu + 4 * sd, n)


def _make_figures(report: Report, result, data, eap_cache, max_panels):
    makers = [("icc", lambda: _fig_icc(report, result, data, eap_cache, max_panels)),
              ("iif", lambda: _fig_iif(report, result)),
              ("tif", lambda: _fig_tif(result))]
    if report.drift.done:
        makers.append(("drift", lambda: _fig_drift(report)))
    for key, make in makers:
        try:
            png, caption = make()
        except Exception as exc:  # a figure must never sink the whole report
            report.notes.append(f"figure '{key}' could not be drawn: {type(exc).__name__}: {exc}")
            continue
        report.figures[key] = png
        report.figure_captions[key] = caption


def _select_icc_items(report, max_panels):
    flagged = [r.id for r in report.flagged]
    n_flag_show = min(len(flagged), max(1, (max_panels * 3) // 4)) if flagged else 0
    chosen = flagged[:n_flag_show]
    rest = [r for r in report.items if not r.flags and r.a is not None]
    n_sample = max(0, min(max_panels - len(chosen), len(rest)))
    if n_sample:
        def key(r):
            b = r.b if not isinstance(r.b, list) else (np.nanmean([v for v in r.b if v is not None] or [0]))
            return b if b is not None else 0.0
        rest = sorted(rest, key=key)
        idx = np.unique(np.linspace(0, len(rest) - 1, n_sample).round().astype(int))
        chosen += [rest[i].id for i in idx]
    return chosen, len(flagged), n_flag_show


def _fig_icc(report, result, data, eap_cache, max_panels):
    ids, n_flagged, n_flag_show = _select_icc_items(report, max_panels)
    if not ids:
        raise ValueError("no items to draw")
    theta = _theta_grid(result)
    pos = [result.item_index(i) for i in ids]
    E = result.expected_score(theta)[pos]
    emp = _empirical(result, data, eap_cache, ids) if data is not None else None
    n = len(ids)
    cols = min(4, n)
    nrows = int(math.ceil(n / cols))
    fig = _new_figure(2.6 * cols + 0.6, 2.0 * nrows + 0.7)
    axes = fig.subplots(nrows, cols, sharex=True, sharey=True, squeeze=False)
    flagged_set = {r.id for r in report.flagged}
    grm = result.model == "GRM"
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        iid = ids[k]
        row = report.item(iid)
        top = max(int(result.n_categories[pos[k]]) - 1, 1)     # GRM: proportion of the maximum score
        colour = "#c0392b" if iid in flagged_set else "#1f5f99"
        ax.plot(theta, E[k] / top, color=colour, lw=1.8)
        if emp is not None and iid in emp:
            x, y, cnt = emp[iid]
            if len(x):
                size = 8 + 40 * cnt / max(cnt.max(), 1)
                ax.scatter(x, y / top, s=size, facecolors="none", edgecolors="#333333", lw=0.8, zorder=3)
        ax.set_title(_short(iid, 28), fontsize=8.5, parse_math=False, color=colour, pad=3)
        if row.flags:
            ax.text(0.03, 0.96, _short(", ".join(FLAG_LABELS.get(c, c) for c in row.flag_codes), 34),
                    transform=ax.transAxes, fontsize=6.5, va="top", color=colour, parse_math=False)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].set_xlim(theta[0], theta[-1])
    axes[0, 0].set_ylim(-0.03, 1.03)
    fig.supxlabel("ability θ", fontsize=9)
    fig.supylabel("expected score / maximum" if grm else "P(correct)", fontsize=9)
    fig.subplots_adjust(left=0.55 / fig.get_figwidth() + 0.015, right=0.98, bottom=0.55 / fig.get_figheight(),
                        top=1 - 0.3 / fig.get_figheight(), wspace=0.08, hspace=0.32)
    caption = (f"Item characteristic curves: {n_flag_show} flagged item(s)"
               + (f" of {n_flagged}" if n_flagged > n_flag_show else "")
               + f" (red) and {len(ids) - n_flag_show} unflagged item(s) across the difficulty range (blue).")
    if emp is not None:
        caption += (" Circles: observed mean score of respondents grouped by EAP ability (size = number of "
                    "respondents); indicative only, as the EAP includes the item itself.")
    return _png(fig), caption


def _empirical(result, data, eap_cache, ids, n_bins=10, min_count=5):
    theta = _eap(result, data, eap_cache)[0]
    edges = np.unique(np.quantile(theta, np.linspace(0, 1, n_bins + 1)[1:-1]))
    person_bin = np.digitize(theta, edges)
    nb = len(edges) + 1
    out = {}
    for iid in ids:
        if iid not in data.item_ids:
            continue
        j = data.item_index(iid)
        sel = data.item_idx == j
        pb = person_bin[data.person_idx[sel]]
        cnt = np.bincount(pb, minlength=nb).astype(float)
        tot = np.bincount(pb, weights=data.score[sel], minlength=nb)
        th_sum = np.bincount(pb, weights=theta[data.person_idx[sel]], minlength=nb)
        ok = cnt >= min_count
        out[iid] = (th_sum[ok] / cnt[ok], tot[ok] / cnt[ok], cnt[ok])
    return out


def _short(s: str, n: int) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def _fig_iif(report, result):
    theta = _theta_grid(result)
    info = item_information(result, theta)
    fig = _new_figure(8.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    flagged = {r.id for r in report.flagged}
    shown = 0
    for j, iid in enumerate(result.item_ids):
        if not np.all(np.isfinite(info[j])):
            continue
        if iid in flagged:
            continue
        ax.plot(theta, info[j], color="#1f5f99", lw=0.7, alpha=0.45)
    for j, iid in enumerate(result.item_ids):
        if iid in flagged and np.all(np.isfinite(info[j])):
            label = _short(iid, 24) if shown < 8 else None
            ax.plot(theta, info[j], lw=1.6, label=label)
            shown += 1
    ax.set_xlabel("ability θ")
    ax.set_ylabel("item information")
    ax.set_xlim(theta[0], theta[-1])
    ax.grid(alpha=0.3)
    if shown:
        leg = ax.legend(fontsize=7, title="flagged items", title_fontsize=7, loc="upper right")
        for t in leg.get_texts():
            t.set_parse_math(False)
    fig.tight_layout()
    caption = "Item information functions (thin blue: unflagged items; coloured: flagged items"
    caption += ", first 8 labelled)." if shown > 8 else ")."
    return _png(fig), caption


def _fig_tif(result):
    theta = _theta_grid(result)
    info = item_information(result, theta)
    ok = np.all(np.isfinite(info), axis=1)
    tif = info[ok].sum(axis=0)
    with np.errstate(divide="ignore"):
        se = np.where(tif > 0, 1.0 / np.sqrt(tif), np.inf)
    fig = _new_figure(8.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(theta, tif, color="#1f5f99", lw=2, label="test information")
    ax.set_xlabel("ability θ")
    ax.set_ylabel("test information", color="#1f5f99")
    ax.set_xlim(theta[0], theta[-1])
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(theta, se, color="#c0392b", lw=1.6, ls="--", label="SE(θ)")
    fin = se[np.isfinite(se)]
    top = min(float(fin.max()), 2.0) if len(fin) else 2.0
    ax2.set_ylim(0, max(top, 0.1) * 1.05)
    ax2.set_ylabel("standard error of θ", color="#c0392b")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    fig.tight_layout()
    caption = f"Test information over {int(ok.sum())} items and its standard error 1/√I(θ) (dashed, right axis)."
    return _png(fig), caption


def _fig_drift(report):
    rows = [r for r in report.drift.rows if r.get("b_published") is not None]
    if not rows:
        raise ValueError("no drift rows")
    fig = _new_figure(8.0, 3.8)
    for k, key in enumerate(("a", "b")):
        ax = fig.add_subplot(1, 2, k + 1)
        xs, ys, flag = [], [], []
        for r in rows:
            pub, new = r.get(f"{key}_published"), r.get(f"{key}_linked")
            pub = pub if isinstance(pub, list) else [pub]
            new = new if isinstance(new, list) else [new]
            for p, q in zip(pub, new):
                if p is not None and q is not None:
                    xs.append(p)
                    ys.append(q)
                    flag.append(bool(r["flagged"]))
        xs, ys, flag = np.asarray(xs), np.asarray(ys), np.asarray(flag, dtype=bool)
        if len(xs):
            lo, hi = float(min(xs.min(), ys.min())), float(max(xs.max(), ys.max()))
            pad = 0.05 * (hi - lo or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#888888", lw=1)
            ax.scatter(xs[~flag], ys[~flag], s=14, color="#1f5f99", label="stable")
            if flag.any():
                ax.scatter(xs[flag], ys[flag], s=30, color="#c0392b", marker="D", label="drift flagged")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xlabel(f"published {key}")
        ax.set_ylabel(f"new {key} (linked)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    d = report.drift.details
    return _png(fig), (f"Published vs newly calibrated parameters after linking ({d.get('link')}, "
                       f"A = {_fmt(d.get('A'), 3)}, B = {_fmt(d.get('B'), 3)}); the line is identity.")


# --------------------------------------------------------------------------- HTML

_FIG_TITLES = {"icc": "Item characteristic curves", "iif": "Item information",
               "tif": "Test information", "drift": "Parameter drift"}


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence], *, numeric: Sequence[bool] | None = None,
           row_classes: Sequence[str] | None = None, cls: str = "calib-table") -> str:
    """rows: cells already HTML-safe (use _e)."""
    numeric = numeric or [False] * len(headers)
    out = [f'<table class="{_e(cls)}"><thead><tr>']
    for h, n in zip(headers, numeric):
        out.append(f'<th scope="col" class="num">{_e(h)}</th>' if n else f'<th scope="col">{_e(h)}</th>')
    out.append("</tr></thead><tbody>")
    for k, row in enumerate(rows):
        rc = row_classes[k] if row_classes else ""
        out.append(f'<tr class="{_e(rc)}">' if rc else "<tr>")
        for cell, n in zip(row, numeric):
            out.append(f'<td class="num">{cell}</td>' if n else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _flag_badges(row: ItemRow) -> str:
    return " ".join(f'<span class="calib-flag calib-flag-{_e(f.code)}" title="{_e(f.reason)}">'
                    f'{_e(FLAG_LABELS.get(f.code, f.code))}</span>' for f in row.flags)


def _skipped(an: Analysis) -> str:
    label = "Skipped" if an.status == "skipped" else "Not requested"
    return f'<p class="calib-skipped">{_e(label)}: {_e(an.reason)}</p>'


def _summary_pairs(report: Report) -> list:
    s = report.summary
    pairs = [("Run", report.run_label or "–"), ("Model", f"{s['model']} ({s['backend']})"),
             ("Persons", s["persons"]), ("Items", f"{s['items']} ({s['fixed_items']} fixed)"),
             ("Responses", s["responses"])]
    if s.get("density") is not None:
        pairs.append(("Data density", f"{s['density']:.1%}"))
    pairs += [("Log-likelihood", _fmt(s["log_likelihood"], 2)),
              ("Iterations", "–" if s["iterations"] is None else s["iterations"]),
              ("Converged", {True: "yes", False: "NO", None: "unknown"}[s["converged"]]),
              ("SE method", s["se_method"]),
              ("Ability scale", f"mean {_fmt(s['population_mean'])}, SD {_fmt(s['population_sd'])}"),
              ("Flagged items", s["flagged_items"]), ("Generated", report.generated_at)]
    return pairs


def _analyses_overview(report: Report) -> list:
    """(name, status, note) for the secondary analyses, shown right under the summary."""
    out = []
    for an in (report.fit, report.drift, report.dif, report.exposure):
        note = an.reason
        if an.done:
            n_flag = {"S-X2 item fit": "misfit", "Parameter drift": "drift", "Mantel-Haenszel DIF": "dif",
                      "Exposure": "overexposed"}.get(an.name)
            count = report.flag_counts().get(n_flag, 0)
            note = f"{count} item(s) flagged" + (f"; {an.reason}" if an.reason else "")
        out.append((an.name, an.status, note))
    return out


def _param_cells(row: ItemRow, with_c: bool) -> list:
    cells = [_fmt(row.a), _fmt(row.se_a), _fmt(row.b), _fmt(row.se_b)]
    if with_c:
        cells.append(_fmt(row.c))
    return cells


def render_html(report: Report, *, standalone: bool = False, stylesheet_href: str | None = None) -> str:
    """HTML for ``report``: a ``<section class="calib-report">`` fragment, or with ``standalone``
    a complete page (``stylesheet_href`` adds a ``<link rel="stylesheet">``). All text is
    escaped; no inline styles; figures are embedded as data: URIs."""
    with_c = any(r.c is not None for r in report.items)
    title = "Calibration review" + (f": {report.run_label}" if report.run_label else "")
    p = ['<section class="calib-report">', f"<h2>{_e(title)}</h2>",
         f'<p class="calib-meta">Generated {_e(report.generated_at)}</p>']

    # summary
    p.append('<section class="calib-section calib-summary"><h3>Summary</h3>')
    p.append('<table class="calib-table calib-summary-table"><tbody>')
    for k, v in _summary_pairs(report):
        p.append(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>')
    p.append("</tbody></table>")
    if report.summary["warnings"]:
        p.append('<h4>Calibration warnings</h4><ul class="calib-warnings">')
        p += [f"<li>{_e(w)}</li>" for w in report.summary["warnings"]]
        p.append("</ul>")
    p.append('<h4>Analyses</h4><ul class="calib-analyses">')
    for name, status, note in _analyses_overview(report):
        p.append(f'<li class="calib-analysis-{_e(status.replace(" ", "-"))}"><strong>{_e(name)}</strong>: '
                 f'{_e(status)}' + (f" — {_e(note)}" if note else "") + "</li>")
    p.append("</ul>")
    if report.notes:
        p.append('<ul class="calib-notes">' + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul>")
    p.append("</section>")

    # flagged
    flagged = report.flagged
    p.append(f'<section class="calib-section calib-flagged"><h3>Flagged items ({len(flagged)})</h3>')
    if flagged:
        rows = [[_e(r.id), _flag_badges(r),
                 '<ul class="calib-reason">' + "".join(f"<li>{_e(f.reason)}</li>" for f in r.flags) + "</ul>"]
                for r in flagged]
        p.append(_table(["Item", "Flags", "Reasons"], rows, row_classes=["is-flagged"] * len(rows)))
    else:
        p.append('<p class="calib-ok">No item was flagged.</p>')
    p.append("</section>")

    # figures
    if report.figures:
        p.append('<section class="calib-section calib-figures"><h3>Figures</h3>')
        for key, png in report.figures.items():
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            cap = report.figure_captions.get(key, "")
            p.append(f'<figure class="calib-figure calib-figure-{_e(key)}">'
                     f'<img src="{uri}" alt="{_e(_FIG_TITLES.get(key, key))}">'
                     f"<figcaption>{_e(cap)}</figcaption></figure>")
        p.append("</section>")

    # per-item table
    p.append(f'<section class="calib-section calib-items"><h3>Item parameters ({len(report.items)})</h3>')
    heads = ["Item", "n", "a", "SE a", "b", "SE b"] + (["c"] if with_c else []) + \
            ["S-X2", "df", "p", "DIF", "Drift", "Exposure", "Flags"]
    numeric = [False, True, True, True, True, True] + ([True] if with_c else []) + \
              [True, True, True, False, False, True, False]
    rows, rcls = [], []
    for r in report.items:
        cells = [_e(r.id) + (' <span class="calib-fixed">(fixed)</span>' if r.fixed else ""),
                 _e(r.n_responses)] + [_e(c) for c in _param_cells(r, with_c)]
        cells += [_e(_fmt(r.s_x2, 1)), _e("–" if r.s_x2_df is None else r.s_x2_df), _e(_fmt_p(r.s_x2_p)),
                  _e(r.dif_category or "–"),
                  _e("–" if r.drift_flagged is None else ("flagged" if r.drift_flagged else "stable")),
                  _e(_fmt(r.exposure, 3)), _flag_badges(r)]
        rows.append(cells)
        rcls.append("is-flagged" if r.flags else "")
    p.append(_table(heads, rows, numeric=numeric, row_classes=rcls))
    p.append("</section>")

    # fit
    p.append(f'<section class="calib-section calib-fit"><h3>{_e(report.fit.name)}</h3>')
    if report.fit.done:
        d = report.fit.details
        p.append(f'<p>{_e(d["statistic"])} on {_e(d["n_persons"])} complete response vectors over '
                 f'{_e(d["n_items"])} items; flagged when p &lt; {_e(d["alpha"])}.</p>')
        if report.fit.reason:
            p.append(f'<p class="calib-note">{_e(report.fit.reason)}</p>')
    else:
        p.append(_skipped(report.fit))
    p.append("</section>")

    # drift
    dr = report.drift
    p.append(f'<section class="calib-section calib-drift"><h3>{_e(dr.name)}</h3>')
    if dr.done:
        d = dr.details
        p.append(f'<p>Linking: {_e(d["link"])} (A = {_e(_fmt(d["A"], 3))}, B = {_e(_fmt(d["B"], 3))}) on '
                 f'{_e(d["n_linking"])} of {_e(d["n_common"])} common items; flagged when |z| &gt; '
                 f'{_e(d["z_threshold"])}'
                 + ("" if d["published_ses"] else " (no published SEs: z uses the new SEs only)") + ".</p>")
        rows, rcls = [], []
        for r in sorted(dr.rows, key=lambda r: (not r["flagged"], _natural(r["id"]))):
            rows.append([_e(r["id"]), _e(_fmt(r.get("a_published"))), _e(_fmt(r.get("a_linked"))),
                         _e(_fmt(r.get("z_a"), 1)), _e(_fmt(r.get("b_published"))), _e(_fmt(r.get("b_linked"))),
                         _e(_fmt(r.get("z_b"), 1)), _e("yes" if r.get("used_for_linking") else "no"),
                         _e(r["reason"] if r["flagged"] else ("fixed" if r.get("fixed") else "stable"))])
            rcls.append("is-flagged" if r["flagged"] else "")
        p.append(_table(["Item", "a published", "a new", "z a", "b published", "b new", "z b", "Linking", "Result"],
                        rows, numeric=[False, True, True, True, True, True, True, False, False],
                        row_classes=rcls))
    else:
        p.append(_skipped(dr))
    p.append("</section>")

    # DIF
    dif = report.dif
    p.append(f'<section class="calib-section calib-dif"><h3>{_e(dif.name)}</h3>')
    if dif.done:
        d = dif.details
        grouping = f" by {d['grouping']}" if d.get("grouping") else ""
        p.append(f"<p>Reference {_e(d['reference'])} ({_e(d['n_reference_persons'])} persons) vs focal "
                 f"{_e(d['focal'])} ({_e(d['n_focal_persons'])} persons){_e(grouping)}, matched on "
                 f"{_e(d['matching'])}. ETS categories: A negligible, B moderate, C large.</p>")
        rows, rcls = [], []
        order = {"C": 0, "B": 1, "A": 2}
        for r in sorted(dif.rows, key=lambda r: (order.get(r["ets_category"], 3), _natural(r["id"]))):
            rows.append([_e(r["id"]), _e(r["n_reference"]), _e(r["n_focal"]), _e(_fmt(r["mh_odds_ratio"])),
                         _e(_fmt(r["mh_d_dif"])), _e(_fmt(r["se_mh_d_dif"])), _e(_fmt_p(r["p_value"])),
                         _e(r["ets_category"]), _e(r.get("favours") or "–")])
            rcls.append("is-flagged" if r["ets_category"] in report.thresholds.dif_categories else "")
        p.append(_table(["Item", "n ref", "n focal", "MH odds ratio", "MH D-DIF", "SE", "p", "ETS", "Favours"],
                        rows, numeric=[False, True, True, True, True, True, True, False, False],
                        row_classes=rcls))
    else:
        p.append(_skipped(dif))
    p.append("</section>")

    # exposure
    ex = report.exposure
    p.append(f'<section class="calib-section calib-exposure"><h3>{_e(ex.name)}</h3>')
    if ex.done:
        d = ex.details
        p.append(f"<p>{_e(d['n_over'])} of {_e(d['n_items'])} items above the maximum rate "
                 f"{_e(d['max_rate'])}; mean rate {_e(_fmt(d['mean'], 3))}.</p>")
        rows = [[_e(r["id"]), _e(_fmt(r["exposure"], 3)), _e("yes" if r["in_calibration"] else "no"),
                 _e("over limit" if r["flagged"] else "ok")] for r in ex.rows]
        p.append(_table(["Item", "Exposure rate", "In this calibration", "Status"], rows,
                        numeric=[False, True, False, False],
                        row_classes=["is-flagged" if r["flagged"] else "" for r in ex.rows]))
    else:
        p.append(_skipped(ex))
    p.append("</section></section>")
    body = "\n".join(p)
    if not standalone:
        return body
    link = f'<link rel="stylesheet" href="{_e(stylesheet_href)}">' if stylesheet_href else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title>{link}</head><body>\n{body}\n</body></html>\n")


# --------------------------------------------------------------------------- PDF

def _pdf_fonts() -> tuple[str, str]:
    """DejaVu Sans (bundled with matplotlib, covers non-Latin item ids) or Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    try:
        pdfmetrics.getFont("CalibReport-Sans")
        pdfmetrics.getFont("CalibReport-Sans-Bold")
        return "CalibReport-Sans", "CalibReport-Sans-Bold"
    except KeyError:
        pass
    try:
        import matplotlib
        from pathlib import Path
        d = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("CalibReport-Sans", str(d / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("CalibReport-Sans-Bold", str(d / "DejaVuSans-Bold.ttf")))
        return "CalibReport-Sans", "CalibReport-Sans-Bold"
    except Exception:
        return "Helvetica", "Helvetica-Bold"


def render_pdf(report: Report) -> bytes:
    """Landscape A4 PDF: title, summary, flagged items, per-item table, figures, drift/DIF/exposure."""
    from xml.sax.saxutils import escape as xesc

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (Image, KeepTogether, LongTable, PageBreak, Paragraph,
                                    SimpleDocTemplate, Spacer, Table, TableStyle)

    regular, bold = _pdf_fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=8.5, leading=11)
    small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5)
    cell = ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5)
    cell_b = ParagraphStyle("cellb", parent=cell, fontName=bold)
    h1 = ParagraphStyle("h1", parent=base, fontName=bold, fontSize=16, leading=20, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11.5, leading=14, spaceBefore=8,
                        spaceAfter=4)
    note = ParagraphStyle("note", parent=small, textColor=colors.HexColor("#555555"))

    def P(text, style=cell):
        return Paragraph(xesc("" if text is None else str(text)), style)

    page_w, page_h = landscape(A4)
    margin = 12 * mm
    avail_w = page_w - 2 * margin
    label = report.run_label

    def tbl(data, widths, *, header=True, flagged_rows=(), long=True):
        cls = LongTable if long else Table
        t = cls(data, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
        st = [("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
              ("VALIGN", (0, 0), (-1, -1), "TOP"),
              ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
              ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
        if header:
            st.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e9f0")))
        for i in flagged_rows:
            st.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fbeaea")))
        t.setStyle(TableStyle(st))
        return t

    def header_row(names):
        return [P(n, cell_b) for n in names]

    story: list = [P("Calibration review" + (f": {label}" if label else ""), h1),
                   P(f"Generated {report.generated_at}", note), Spacer(1, 4)]

    # summary (two label/value column pairs)
    pairs = [(k, str(v)) for k, v in _summary_pairs(report)]
    half = (len(pairs) + 1) // 2
    data = []
    for i in range(half):
        left = pairs[i]
        right = pairs[i + half] if i + half < len(pairs) else ("", "")
        data.append([P(left[0], cell_b), P(left[1]), P(right[0], cell_b), P(right[1])])
    story.append(tbl(data, [35 * mm, 95 * mm, 35 * mm, 95 * mm], header=False, long=False))
    story.append(P("Analyses", h2))
    data = [header_row(["Analysis", "Status", "Result / reason"])]
    for an_name, an_status, an_note in _analyses_overview(report):
        data.append([P(an_name, cell_b), P(an_status), P(an_note)])
    story.append(tbl(data, [40 * mm, 25 * mm, avail_w - 65 * mm], long=False))
    if report.summary["warnings"] or report.notes:
        story.append(P("Calibration warnings and notes", h2))
        for w in list(report.summary["warnings"]) + list(report.notes):
            story.append(P("• " + w, small))

    # flagged
    flagged = report.flagged
    story.append(P(f"Flagged items ({len(flagged)})", h2))
    if flagged:
        data = [header_row(["Item", "Flags", "Reasons"])]
        for r in flagged:
            data.append([P(r.id), P(", ".join(FLAG_LABELS.get(c, c) for c in r.flag_codes)),
                         P("; ".join(r.reasons))])
        story.append(tbl(data, [50 * mm, 45 * mm, avail_w - 95 * mm]))
    else:
        story.append(P("No item was flagged.", base))

    # per-item table
    with_c = any(r.c is not None for r in report.items)
    story.append(P(f"Item parameters ({len(report.items)})", h2))
    heads = ["Item", "n", "a", "SE a", "b", "SE b"] + (["c"] if with_c else []) + \
            ["S-X2", "df", "p", "DIF", "Drift", "Exp.", "Flags"]
    grm = report.summary["model"] == "GRM"
    w_b = 38 * mm if grm else 13 * mm
    widths = [40 * mm, 12 * mm, 12 * mm, 12 * mm, w_b, w_b] + ([11 * mm] if with_c else []) + \
             [14 * mm, 9 * mm, 13 * mm, 10 * mm, 14 * mm, 12 * mm]
    widths.append(max(avail_w - sum(widths), 30 * mm))
    data = [header_row(heads)]
    frows = []
    for k, r in enumerate(report.items, start=1):
        row = [P(r.id + (" (fixed)" if r.fixed else "")), P(r.n_responses)] + \
              [P(c) for c in _param_cells(r, with_c)]
        row += [P(_fmt(r.s_x2, 1)), P("–" if r.s_x2_df is None else r.s_x2_df), P(_fmt_p(r.s_x2_p)),
                P(r.dif_category or "–"),
                P("–" if r.drift_flagged is None else ("flagged" if r.drift_flagged else "stable")),
                P(_fmt(r.exposure, 3)), P(", ".join(FLAG_LABELS.get(c, c) for c in r.flag_codes))]
        data.append(row)
        if r.flags:
            frows.append(k)
    story.append(tbl(data, widths, flagged_rows=frows))

    # S-X2 note
    story.append(P(report.fit.name, h2))
    if report.fit.done:
        d = report.fit.details
        story.append(P(f"{d['statistic']} on {d['n_persons']} complete response vectors over {d['n_items']} "
                       f"items; flagged when p < {d['alpha']}. {report.fit.reason}", base))
    else:
        story.append(P(f"{report.fit.status.capitalize()}: {report.fit.reason}", base))

    # figures
    if report.figures:
        story.append(PageBreak())
        story.append(P("Figures", h2))
        full_h = page_h - 2 * margin - 30 * mm
        for key, png in report.figures.items():
            img = Image(io.BytesIO(png))
            iw, ih = img.imageWidth, img.imageHeight
            max_h = full_h if key == "icc" else full_h / 2 - 8 * mm     # two line plots per page
            scale = min(avail_w * 0.85 / iw, max_h / ih)
            img.drawWidth, img.drawHeight = iw * scale, ih * scale
            story.append(KeepTogether([P(_FIG_TITLES.get(key, key), cell_b), img,
                                       P(report.figure_captions.get(key, ""), note), Spacer(1, 6)]))

    # drift
    dr = report.drift
    story.append(P(dr.name, h2))
    if dr.done:
        d = dr.details
        story.append(P(f"Linking: {d['link']} (A = {_fmt(d['A'], 3)}, B = {_fmt(d['B'], 3)}) on {d['n_linking']} "
                       f"of {d['n_common']} common items; flagged when |z| > {d['z_threshold']}"
                       + ("" if d["published_ses"] else " (no published SEs: z uses the new SEs only)") + ".",
                       base))
        data = [header_row(["Item", "a published", "a new", "z a", "b published", "b new", "z b", "Linking",
                            "Result"])]
        frows = []
        for k, r in enumerate(sorted(dr.rows, key=lambda r: (not r["flagged"], _natural(r["id"]))), start=1):
            data.append([P(r["id"]), P(_fmt(r.get("a_published"))), P(_fmt(r.get("a_linked"))),
                         P(_fmt(r.get("z_a"), 1)), P(_fmt(r.get("b_published"))), P(_fmt(r.get("b_linked"))),
                         P(_fmt(r.get("z_b"), 1)), P("yes" if r.get("used_for_linking") else "no"),
                         P(r["reason"] if r["flagged"] else ("fixed" if r.get("fixed") else "stable"))])
            if r["flagged"]:
                frows.append(k)
        story.append(tbl(data, [45 * mm, 20 * mm, 20 * mm, 15 * mm, 35 * mm, 35 * mm, 15 * mm, 15 * mm,
                                avail_w - 200 * mm], flagged_rows=frows))
    else:
        story.append(P(f"{dr.status.capitalize()}: {dr.reason}", base))

    # DIF
    dif = report.dif
    story.append(P(dif.name, h2))
    if dif.done:
        d = dif.details
        grouping = f" by {d['grouping']}" if d.get("grouping") else ""
        story.append(P(f"Reference {d['reference']} ({d['n_reference_persons']} persons) vs focal {d['focal']} "
                       f"({d['n_focal_persons']} persons){grouping}, matched on {d['matching']}. "
                       f"ETS categories: A negligible, B moderate, C large.", base))
        order = {"C": 0, "B": 1, "A": 2}
        data = [header_row(["Item", "n ref", "n focal", "MH odds ratio", "MH D-DIF", "SE", "p", "ETS",
                            "Favours"])]
        frows = []
        for k, r in enumerate(sorted(dif.rows, key=lambda r: (order.get(r["ets_category"], 3), _natural(r["id"]))),
                              start=1):
            data.append([P(r["id"]), P(r["n_reference"]), P(r["n_focal"]), P(_fmt(r["mh_odds_ratio"])),
                         P(_fmt(r["mh_d_dif"])), P(_fmt(r["se_mh_d_dif"])), P(_fmt_p(r["p_value"])),
                         P(r["ets_category"]), P(r.get("favours") or "–")])
            if r["ets_category"] in report.thresholds.dif_categories:
                frows.append(k)
        story.append(tbl(data, [50 * mm, 18 * mm, 18 * mm, 25 * mm, 22 * mm, 18 * mm, 18 * mm, 12 * mm,
                                avail_w - 181 * mm], flagged_rows=frows))
    else:
        story.append(P(f"{dif.status.capitalize()}: {dif.reason}", base))

    # exposure
    ex = report.exposure
    story.append(P(ex.name, h2))
    if ex.done:
        d = ex.details
        story.append(P(f"{d['n_over']} of {d['n_items']} items above the maximum rate {d['max_rate']}; "
                       f"mean rate {_fmt(d['mean'], 3)}.", base))
        data = [header_row(["Item", "Exposure rate", "In this calibration", "Status"])]
        frows = []
        for k, r in enumerate(ex.rows, start=1):
            data.append([P(r["id"]), P(_fmt(r["exposure"], 3)), P("yes" if r["in_calibration"] else "no"),
                         P("over limit" if r["flagged"] else "ok")])
            if r["flagged"]:
                frows.append(k)
        story.append(tbl(data, [60 * mm, 30 * mm, 35 * mm, 30 * mm], flagged_rows=frows))
    else:
        story.append(P(f"{ex.status.capitalize()}: {ex.reason}", base))

    footer = "Certamen calibration review" + (f" — {label}" if label else "")

    def on_page(canv, doc):
        canv.saveState()
        canv.setFont(regular, 7)
        canv.setFillColor(colors.HexColor("#666666"))
        canv.drawString(margin, 7 * mm, footer[:150])
        canv.drawRightString(page_w - margin, 7 * mm, f"page {doc.page}")
        canv.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=margin, rightMargin=margin,
                            topMargin=margin, bottomMargin=14 * mm,
                            title="Calibration review" + (f": {label}" if label else ""),
                            author="Certamen", subject="IRT calibration review report")
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()
