"""The rows and sentences the report shows, as plain text: one source for the HTML and the PDF,
so the two presentations cannot drift apart. Each table is ``(cells, flagged)`` pairs."""

from __future__ import annotations

from .formatting import fmt, fmt_p, natural_key
from .model import Analysis, ItemRow, Report

# The flag code each analysis raises, to count it in the overview.
_ANALYSIS_FLAG = {"S-X2 item fit": "misfit", "Parameter drift": "drift", "Mantel-Haenszel DIF": "dif",
                  "Exposure": "overexposed"}

DRIFT_HEADERS = ["Item", "a published", "a new", "z a", "b published", "b new", "z b", "Linking", "Result"]
DIF_HEADERS = ["Item", "n ref", "n focal", "MH odds ratio", "MH D-DIF", "SE", "p", "ETS", "Favours"]
EXPOSURE_HEADERS = ["Item", "Exposure rate", "In this calibration", "Status"]
_ETS_ORDER = {"C": 0, "B": 1, "A": 2}


def title(report: Report) -> str:
    return "Calibration review" + (f": {report.run_label}" if report.run_label else "")


def with_c(report: Report) -> bool:
    """Whether the item table needs a guessing (c) column."""
    return any(r.c is not None for r in report.items)


def summary_pairs(report: Report) -> list:
    """(label, value) rows of the summary table."""
    s = report.summary
    pairs = [("Run", report.run_label or "–"), ("Model", f"{s['model']} ({s['backend']})"),
             ("Persons", s["persons"]), ("Items", f"{s['items']} ({s['fixed_items']} fixed)"),
             ("Responses", s["responses"])]
    if s.get("density") is not None:
        pairs.append(("Data density", f"{s['density']:.1%}"))
    pairs += [("Log-likelihood", fmt(s["log_likelihood"], 2)),
              ("Iterations", "–" if s["iterations"] is None else s["iterations"]),
              ("Converged", {True: "yes", False: "NO", None: "unknown"}[s["converged"]]),
              ("SE method", s["se_method"]),
              ("Ability scale", f"mean {fmt(s['population_mean'])}, SD {fmt(s['population_sd'])}"),
              ("Flagged items", s["flagged_items"]), ("Generated", report.generated_at)]
    return pairs


def analyses_overview(report: Report) -> list:
    """(name, status, note) for the secondary analyses, shown right under the summary."""
    out = []
    for an in (report.fit, report.drift, report.dif, report.exposure):
        note = an.reason
        if an.done:
            count = report.flag_counts().get(_ANALYSIS_FLAG.get(an.name), 0)
            note = f"{count} item(s) flagged" + (f"; {an.reason}" if an.reason else "")
        out.append((an.name, an.status, note))
    return out


def status_line(an: Analysis) -> str:
    """Why an analysis that is not done shows no table."""
    return f"{an.status.capitalize()}: {an.reason}"


def item_headers(with_c: bool) -> tuple[list, list]:
    """Headers of the item table (flags last) and which columns are numeric."""
    heads = ["Item", "n", "a", "SE a", "b", "SE b"] + (["c"] if with_c else []) + \
            ["S-X2", "df", "p", "DIF", "Drift", "Exposure", "Flags"]
    numeric = [False, True, True, True, True, True] + ([True] if with_c else []) + \
              [True, True, True, False, False, True, False]
    return heads, numeric


def item_cells(row: ItemRow, with_c: bool) -> list:
    """The item table's cells between the id and the flags."""
    cells = [str(row.n_responses), fmt(row.a), fmt(row.se_a), fmt(row.b), fmt(row.se_b)]
    if with_c:
        cells.append(fmt(row.c))
    return cells + [fmt(row.s_x2, 1), "–" if row.s_x2_df is None else str(row.s_x2_df), fmt_p(row.s_x2_p),
                    row.dif_category or "–",
                    "–" if row.drift_flagged is None else ("flagged" if row.drift_flagged else "stable"),
                    fmt(row.exposure, 3)]


def fit_intro(d: dict) -> str:
    return (f"{d['statistic']} on {d['n_persons']} complete response vectors over {d['n_items']} items; "
            f"flagged when p < {d['alpha']}.")


def drift_intro(d: dict) -> str:
    return (f"Linking: {d['link']} (A = {fmt(d['A'], 3)}, B = {fmt(d['B'], 3)}) on {d['n_linking']} "
            f"of {d['n_common']} common items; flagged when |z| > {d['z_threshold']}"
            + ("" if d["published_ses"] else " (no published SEs: z uses the new SEs only)") + ".")


def drift_rows(an: Analysis) -> list:
    """Flagged items first, then in natural id order."""
    out = []
    for r in sorted(an.rows, key=lambda r: (not r["flagged"], natural_key(r["id"]))):
        out.append(([r["id"], fmt(r.get("a_published")), fmt(r.get("a_linked")), fmt(r.get("z_a"), 1),
                     fmt(r.get("b_published")), fmt(r.get("b_linked")), fmt(r.get("z_b"), 1),
                     "yes" if r.get("used_for_linking") else "no",
                     r["reason"] if r["flagged"] else ("fixed" if r.get("fixed") else "stable")],
                    bool(r["flagged"])))
    return out


def dif_intro(d: dict) -> str:
    grouping = f" by {d['grouping']}" if d.get("grouping") else ""
    return (f"Reference {d['reference']} ({d['n_reference_persons']} persons) vs focal {d['focal']} "
            f"({d['n_focal_persons']} persons){grouping}, matched on {d['matching']}. "
            f"ETS categories: A negligible, B moderate, C large.")


def dif_rows(an: Analysis, flag_categories) -> list:
    """Largest DIF category first, then in natural id order."""
    out = []
    for r in sorted(an.rows, key=lambda r: (_ETS_ORDER.get(r["ets_category"], 3), natural_key(r["id"]))):
        out.append(([r["id"], str(r["n_reference"]), str(r["n_focal"]), fmt(r["mh_odds_ratio"]),
                     fmt(r["mh_d_dif"]), fmt(r["se_mh_d_dif"]), fmt_p(r["p_value"]), r["ets_category"],
                     r.get("favours") or "–"],
                    r["ets_category"] in flag_categories))
    return out


def exposure_intro(d: dict) -> str:
    return (f"{d['n_over']} of {d['n_items']} items above the maximum rate {d['max_rate']}; "
            f"mean rate {fmt(d['mean'], 3)}.")


def exposure_rows(an: Analysis) -> list:
    return [([r["id"], fmt(r["exposure"], 3), "yes" if r["in_calibration"] else "no",
              "over limit" if r["flagged"] else "ok"], bool(r["flagged"])) for r in an.rows]
