"""From a calibration run to a :class:`Report`: the item table, the summary, the secondary
analyses merged into the item rows, the flags and (optionally) the figures. Pure: no I/O."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

import numpy as np

from ..data import ResponseData
from ..result import CalibrationResult
from .figures import make_figures
from .flags import flag_items
from .formatting import num
from .model import ItemRow, Report, ReviewThresholds
from .secondary import dif_analysis, drift_analysis, exposure_analysis, fit_analysis


def _vec(row, k: int):
    """Finite thresholds of a GRM row (first k) or a scalar."""
    return [num(v) for v in np.asarray(row, dtype=float)[:k]]


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

    fit_an = fit_analysis(result, data, fit_items, th)
    drift_an = drift_analysis(result, published, th, drift_link)
    eap_cache: dict = {}
    dif_an = dif_analysis(result, data, groups, eap_cache)
    exp_an = exposure_analysis(exposure, by_id, th)

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

    flag_items(result, rows, th, min_responses, fit_an, drift_an, dif_an, exp_an)

    summary = _summary(result, responses, rows)
    report = Report(run_label=str(run_label or ""),
                    generated_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
                    summary=summary, items=rows, fit=fit_an, drift=drift_an, dif=dif_an,
                    exposure=exp_an, thresholds=th, min_responses=int(min_responses), notes=notes)
    if figures:
        make_figures(report, result, data, eap_cache, max_icc_panels)
    return report


def _first(v):
    if isinstance(v, list):
        return num(v[0]) if v else None
    return num(v)


def _maxabs(v):
    if isinstance(v, list):
        vals = [x for x in (num(u) for u in v) if x is not None]
        return max(vals, key=abs) if vals else None
    return num(v)


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
            b, se_b = num(result.b[j]), num(result.se_b[j])
        rows.append(ItemRow(
            id=str(iid), a=num(result.a[j]), b=b,
            c=None if result.c is None else num(result.c[j]),
            se_a=num(result.se_a[j]), se_b=se_b,
            n_responses=int(result.n_responses[j]), fixed=bool(result.fixed[j])))
    return rows


def _summary(result: CalibrationResult, responses, rows) -> dict:
    s = {
        "model": result.model, "backend": result.backend, "persons": int(result.n_persons),
        "items": int(result.n_items), "log_likelihood": num(result.log_likelihood),
        "iterations": result.iterations, "converged": result.converged,
        "se_method": result.se_method, "population_mean": num(result.population_mean),
        "population_sd": num(result.population_sd), "fixed_items": int(np.sum(result.fixed)),
        "responses": int(np.sum(result.n_responses)),
        "warnings": [w.message for w in result.warnings],
        "flagged_items": sum(1 for r in rows if r.flags),
    }
    if responses is not None:
        s["density"] = num(responses.density)
    return s

