"""The secondary analyses of a run (S-X2 item fit, parameter drift, Mantel-Haenszel DIF, live
exposure), each an :class:`Analysis` that is skipped with a stated reason instead of failing, so
one unusable input never costs the reviewer the rest of the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import CalibrationInputError
from .formatting import num
from .model import Analysis


def fit_analysis(result, data, fit_items, th) -> Analysis:
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
        rows.append({"id": iid, "s_x2": num(res.statistic[j]), "df": int(res.df[j]),
                     "p_value": num(res.p_value[j]), "n_groups": int(res.n_groups[j])})
    no_df = [r["id"] for r in rows if r["p_value"] is None]
    reason = ""
    if no_df:
        reason = f"no p-value for {len(no_df)} item(s): too few score groups for the degrees of freedom"
    return Analysis("S-X2 item fit", "done", reason, rows,
                    {"n_persons": res.n_persons, "n_items": len(res.item_ids), "alpha": th.fit_alpha,
                     "statistic": "S-X2 (Orlando & Thissen 2000)",
                     "block": items is not None})


def _s_x2(result, data, items):
    from ..fit_stats import s_x2
    return s_x2(result, data, items=items)


# ---- drift

def drift_analysis(result, published, th, link) -> Analysis:
    name = "Parameter drift"
    if not published:
        return Analysis(name, "not requested", "no published parameters supplied")
    from ..linking import parameter_drift
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
                    {"link": c.method, "A": num(c.A), "B": num(c.B), "z_threshold": th.drift_z,
                     "n_common": len(common), "n_linking": sum(1 for r in rows if r.get("used_for_linking")),
                     "published_ses": any("se_b" in table[i] for i in common)})


# ---- DIF

def dif_analysis(result, data, groups, eap_cache) -> Analysis:
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
        theta = eap(result, data, eap_cache)[0]
        edges = np.unique(np.quantile(theta, np.linspace(0, 1, n_strata + 1)[1:-1]))
        match_arg = np.digitize(theta, edges).astype(np.int64)
        details["matching"] = f"EAP ability in {len(edges) + 1} quantile strata"
    else:
        return Analysis(name, "skipped", f"unknown matching {matching!r} (use 'auto', 'total' or 'ability')",
                        details=details)
    from ..dif import mantel_haenszel
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
        lab = {str(k): v for k, v in zip(pids, g, strict=True)}
        return np.asarray([lab.get(str(p)) for p in data.person_ids], dtype=object)
    if len(g) != N:
        raise CalibrationInputError(f"groups: {len(g)} labels for {N} persons (give person_ids or labels)")
    out = np.empty(N, dtype=object)
    out[:] = g
    return out


def eap(result, data, cache):
    if "eap" not in cache:
        cache["eap"] = result.eap(data)
    return cache["eap"]


# ---- exposure

def exposure_analysis(exposure, by_id, th) -> Analysis:
    name = "Exposure"
    if not exposure:
        return Analysis(name, "not requested", "no exposure rates supplied")
    rows = []
    for k, v in exposure.items():
        rate = num(v)
        rows.append({"id": str(k), "exposure": rate, "in_calibration": str(k) in by_id,
                     "flagged": rate is not None and rate > th.exposure_max + 1e-12})
    rows.sort(key=lambda r: -(r["exposure"] if r["exposure"] is not None else -1))
    rates = [r["exposure"] for r in rows if r["exposure"] is not None]
    return Analysis(name, "done", "", rows,
                    {"max_rate": th.exposure_max, "n_items": len(rows),
                     "mean": float(np.mean(rates)) if rates else None,
                     "max": max(rates) if rates else None,
                     "n_over": sum(r["flagged"] for r in rows)})

