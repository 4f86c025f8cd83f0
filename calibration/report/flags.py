"""Flags with reasons: the rules of :class:`ReviewThresholds` applied to each item row, after the
secondary analyses have been merged in, so a reviewer sees why an item needs a look."""

from __future__ import annotations

from .formatting import fmt
from .model import Flag

# Item-level warnings of the calibration itself that become flags of the same code.
WARNING_FLAGS = ("mstep_failed", "no_variation", "empty_category", "extreme_estimate")
# A parameter already flagged as out of range needs no extra "extreme estimate" flag.
_RANGE_FLAGS = {"low_discrimination", "high_discrimination", "extreme_difficulty", "high_guessing"}


def flag_items(result, rows, th, min_responses, fit_an, drift_an, dif_an, exp_an) -> None:
    """Append the flags each row earns to ``row.flags`` (in place)."""
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
            f.append(Flag("dif", f"ETS category {dr['ets_category']}: MH D-DIF = {fmt(dr['mh_d_dif'])}"
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
        for w in item_warn.get(row.id, []):
            if w.code not in WARNING_FLAGS:
                continue
            if w.code == "extreme_estimate" and have & _RANGE_FLAGS:
                continue
            f.append(Flag(w.code, w.message))

