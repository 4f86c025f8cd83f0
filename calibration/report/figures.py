"""Matplotlib figures of a report (item characteristic curves, item and test information,
drift), drawn off-screen to PNG bytes so the HTML and the PDF embed the very same images.
A figure that cannot be drawn becomes a note in the report, never an error."""

from __future__ import annotations

import io
import math

import numpy as np

from ..result import CalibrationResult
from .formatting import fmt, shorten
from .model import Report
from .secondary import eap

TITLES = {"icc": "Item characteristic curves", "iif": "Item information",
          "tif": "Test information", "drift": "Parameter drift"}

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


def make_figures(report: Report, result, data, eap_cache, max_panels):
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
        ax.set_title(shorten(iid, 28), fontsize=8.5, parse_math=False, color=colour, pad=3)
        if row.flags:
            ax.text(0.03, 0.96, shorten(", ".join(row.flag_labels), 34),
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
    theta = eap(result, data, eap_cache)[0]
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
            label = shorten(iid, 24) if shown < 8 else None
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
            # published and linked may differ in length (one b against several thresholds): plot the pairs both have
            for p, q in zip(pub, new, strict=False):
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
                       f"A = {fmt(d.get('A'), 3)}, B = {fmt(d.get('B'), 3)}); the line is identity.")

