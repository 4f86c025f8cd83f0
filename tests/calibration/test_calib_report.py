"""Psychometric review report: flags with reasons, sparse data, HTML escaping, PDF."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

import calibration as cal
from calibration.report import Report, ReviewThresholds, build_report, item_information, render_html, render_pdf

PNG = b"\x89PNG\r\n\x1a\n"


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


@pytest.fixture(scope="module")
def scenario():
    """25 2PL items; item1 misfits (true c = .35, a = 2.5), item2's published b is 1 too high,
    item3 is 1 logit harder for the focal group."""
    rng = np.random.default_rng(4101)
    J = 25
    tp = cal.random_item_parameters(J, "2PL", rng=rng)
    a, b, c = tp["a"].copy(), tp["b"].copy(), np.zeros(J)
    a[0], b[0], c[0] = 2.5, 0.5, 0.35
    ref, _ = cal.simulate_responses(a, b, c, n_persons=2000, rng=rng)
    b_foc = b.copy()
    b_foc[2] += 1.0
    foc, _ = cal.simulate_responses(a, b_foc, c, n_persons=2000, rng=rng)
    ids = [f"item{j + 1}" for j in range(J)]
    data = cal.ResponseData.from_dense(np.vstack([ref.dense(), foc.dense()]), item_ids=ids,
                                       person_ids=[f"p{i}" for i in range(4000)])
    res = cal.fit(data, "2PL")
    published = {iid: {"a": float(tp["a"][j]), "b": float(tp["b"][j])} for j, iid in enumerate(ids)}
    published["item2"]["b"] += 1.0
    groups = {"person_ids": [f"p{i}" for i in range(4000)], "group": ["R"] * 2000 + ["F"] * 2000,
              "reference": "R", "focal": "F", "name": "language"}
    exposure = {iid: 0.05 for iid in ids}
    exposure["item7"] = 0.45
    rep = build_report(res, data, published=published, exposure=exposure, groups=groups,
                       run_label="spring 2026 <pilot>")
    return rep, res, data


def test_injected_problems_are_flagged_with_reasons(scenario):
    rep, res, _ = scenario
    assert isinstance(rep, Report)
    codes = {r.id: set(r.flag_codes) for r in rep.items}
    assert "misfit" in codes["item1"]
    misfit = next(f for f in rep.item("item1").flags if f.code == "misfit")
    assert "S-X2" in misfit.reason and "p <" in misfit.reason
    assert "drift" in codes["item2"]
    drift = next(f for f in rep.item("item2").flags if f.code == "drift")
    assert "b moved -1." in drift.reason
    assert "dif" in codes["item3"] and rep.item("item3").dif_category == "C"
    assert "ETS category C" in next(f for f in rep.item("item3").flags if f.code == "dif").reason
    assert codes["item7"] == {"overexposed"}
    # clean items stay clean: no spurious misfit/drift/DIF beyond a stray one
    others = [i for i in codes if i not in ("item1", "item2", "item3")]
    assert sum("misfit" in codes[i] for i in others) <= 1
    assert sum("drift" in codes[i] for i in others) <= 1
    assert sum("dif" in codes[i] for i in others) <= 1
    flagged_ids = [r.id for r in rep.flagged]
    assert {"item1", "item2", "item3", "item7"} <= set(flagged_ids)

    # summary and tables
    s = rep.summary
    assert s["model"] == "2PL" and s["persons"] == 4000 and s["items"] == 25 and s["converged"] is True
    assert s["iterations"] == res.iterations and s["log_likelihood"] == pytest.approx(res.log_likelihood)
    assert rep.fit.done and rep.fit.details["n_persons"] == 4000
    row = rep.item("item5")
    assert row.a == pytest.approx(res.a[4]) and row.se_b == pytest.approx(res.se_b[4])
    assert row.n_responses == 4000 and row.s_x2 is not None and row.s_x2_df > 0
    assert rep.drift.done and rep.drift.details["link"] == "stocking-lord"
    assert rep.dif.done and rep.dif.details["matching"].startswith("total score")
    assert rep.exposure.done and rep.exposure.rows[0]["id"] == "item7"
    assert rep.flag_counts()["overexposed"] == 1
    json.dumps(rep.to_dict())                       # JSON-ready


def test_figures_are_pngs(scenario):
    rep, res, _ = scenario
    assert {"icc", "iif", "tif", "drift"} <= set(rep.figures)
    for key, png in rep.figures.items():
        assert png.startswith(PNG), key
        assert rep.figure_captions[key]
    # item information: 2PL closed form a^2 P (1 - P)
    theta = np.linspace(-3, 3, 7)
    info = item_information(res, theta)
    p = 1 / (1 + np.exp(-res.a[:, None] * (theta - res.b[:, None])))
    np.testing.assert_allclose(info, res.a[:, None] ** 2 * p * (1 - p), rtol=1e-5)


def test_html_report(scenario):
    rep, _, _ = scenario
    out = render_html(rep)
    assert out.startswith('<section class="calib-report">')
    assert "spring 2026 &lt;pilot&gt;" in out and "<pilot>" not in out
    assert "style=" not in out and "<style" not in out and "<script" not in out
    assert out.count('src="data:image/png;base64,') == len(rep.figures)
    for iid in ("item1", "item2", "item3", "item25"):
        assert f"<td>{iid}</td>" in out
    assert "calib-flag-misfit" in out and "calib-flag-drift" in out and "calib-flag-dif" in out
    page = render_html(rep, standalone=True, stylesheet_href="/static/report.css?v=1&x=\"")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert 'href="/static/report.css?v=1&amp;x=&#34;"' in page     # Jinja's spelling of &quot;


def test_pdf_report(scenario, tmp_path):
    rep, _, _ = scenario
    pdf = render_pdf(rep)
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    for iid in ("item1", "item2", "item3", "item7", "item25"):
        assert iid in text
    assert "Flagged items" in text and "Parameter drift" in text and "Mantel-Haenszel DIF" in text
    assert "spring 2026 <pilot>" in text
    (tmp_path / "report.pdf").write_bytes(pdf)


def test_malicious_item_ids_are_escaped():
    rng = np.random.default_rng(4102)
    evil = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "$x^2$ & Ünïcode", "plain"]
    tp = cal.random_item_parameters(4, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=600, rng=rng)
    data = cal.ResponseData.from_dense(data.dense(), item_ids=evil)
    res = cal.fit(data, "2PL")
    rep = build_report(res, data, exposure={evil[0]: 0.9, evil[1]: 0.5},
                       published={evil[0]: {"a": 1.0, "b": 0.0}, evil[2]: {"a": 1.0, "b": 0.5}},
                       run_label="</title><script>x</script>")
    assert {"icc", "iif", "tif"} <= set(rep.figures)
    assert "overexposed" in rep.item(evil[0]).flag_codes
    for out in (render_html(rep), render_html(rep, standalone=True)):
        assert "<script" not in out and "<img src=x" not in out and "style=" not in out
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in out
        assert "$x^2$ &amp; Ünïcode" in out
    pdf = render_pdf(rep)
    assert pdf.startswith(b"%PDF")
    text = re.sub(r"\s+", "", _pdf_text(pdf))
    assert "<script>alert(1)</script>" in text
    assert "$x^2$&Ünïcode" in text


def test_group_labels_and_reasons_are_escaped_and_the_template_marks_nothing_safe():
    from pathlib import Path

    import calibration.report
    rng = np.random.default_rng(4106)
    tp = cal.random_item_parameters(6, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=800, rng=rng)
    rep = build_report(cal.fit(data, "2PL"), data, figures=False, exposure={"item1": 0.9},
                       groups={"group": ["<b>ref</b>", "f&o"] * 400, "reference": "<b>ref</b>", "focal": "f&o",
                               "name": "<i>lang</i>"})
    rep.item("item1").flags[0] = rep.item("item1").flags[0].__class__("overexposed", "x <em>y</em> & z")
    out = render_html(rep)
    assert "<b>" not in out and "<i>" not in out and "<em>" not in out
    assert "Reference &lt;b&gt;ref&lt;/b&gt;" in out and "focal f&amp;o" in out and "by &lt;i&gt;lang&lt;/i&gt;" in out
    assert 'title="x &lt;em&gt;y&lt;/em&gt; &amp; z"' in out and "<li>x &lt;em&gt;y&lt;/em&gt; &amp; z</li>" in out
    templates = Path(calibration.report.__file__).parent / "templates"
    assert all("|safe" not in t.read_text().replace(" ", "") for t in templates.glob("*.html"))


def test_sparse_adaptive_data_skips_s_x2_with_a_reason():
    rng = np.random.default_rng(4103)
    tp = cal.random_item_parameters(30, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=2500, missing=0.7, rng=rng)
    res = cal.fit(data, "2PL")
    groups = {"group": ["A" if i % 3 else "B" for i in range(data.n_persons)], "reference": "A", "focal": "B"}
    published = {f"item{j + 1}": {"a": float(tp["a"][j]), "b": float(tp["b"][j])} for j in range(30)}
    rep = build_report(res, data, published=published, groups=groups)
    assert rep.fit.status == "skipped"
    assert "complete" in rep.fit.reason and "fit_items" in rep.fit.reason
    assert all(r.s_x2 is None and "misfit" not in r.flag_codes for r in rep.items)
    assert rep.summary["density"] == pytest.approx(0.3, abs=0.02)
    # DIF falls back to ability matching, drift still works
    assert rep.dif.done and "EAP ability" in rep.dif.details["matching"]
    assert rep.drift.done
    assert {"icc", "iif", "tif"} <= set(rep.figures)
    out = render_html(rep)
    assert "calib-skipped" in out and "complete response vectors" in out
    pdf = render_pdf(rep)
    assert "complete" in _pdf_text(pdf)

    # a block that nobody answered completely is also refused with a reason
    rep2 = build_report(res, data, fit_items=["item1", "item2", "item3"], figures=False)
    assert rep2.fit.status == "skipped" and "only" in rep2.fit.reason
    # without response data
    rep3 = build_report(res, figures=False)
    assert rep3.fit.status == "skipped" and rep3.fit.reason == "no response data supplied"
    assert rep3.dif.status == "not requested" and rep3.drift.status == "not requested"


@pytest.mark.filterwarnings("ignore::calibration.CalibrationWarning")
def test_parameter_ranges_few_responses_and_non_convergence():
    rng = np.random.default_rng(4104)
    J = 12
    tp = cal.random_item_parameters(J, "2PL", rng=rng)
    a, b = tp["a"].copy(), tp["b"].copy()
    a[0] = 0.15                                     # weak item
    b[1] = 4.5                                      # very hard item
    data, _ = cal.simulate_responses(a, b, n_persons=1500, rng=rng)
    X = data.dense()
    X[40:, 2] = np.nan                              # item3 seen by only 40 persons
    data = cal.ResponseData.from_dense(X, item_ids=data.item_ids)
    res = cal.fit(data, "2PL")
    rep = build_report(res, data, figures=False)
    assert "low_discrimination" in rep.item("item1").flag_codes
    assert any(f.code == "extreme_difficulty" and f.reason.startswith("|b| =") for f in rep.item("item2").flags)
    assert "imprecise_difficulty" in rep.item("item2").flag_codes
    assert "few_responses" in rep.item("item3").flag_codes
    assert "40 responses < 50" in rep.item("item3").reasons
    # thresholds are configurable
    rep_loose = build_report(res, data, figures=False, min_responses=30,
                             thresholds=ReviewThresholds(a_min=0.01, a_max=10, b_abs_max=10, se_b_max=100))
    assert not {"few_responses", "low_discrimination", "high_discrimination"} & set(
        rep_loose.item("item1").flag_codes + rep_loose.item("item3").flag_codes)
    # a run stopped early flags its moving items
    short = cal.fit(data, "2PL", max_iter=2, accelerate=False)
    assert short.converged is False
    rep_short = build_report(short, data, figures=False)
    assert rep_short.summary["converged"] is False
    assert any("not_converged" in r.flag_codes for r in rep_short.items)
    assert "NO" in render_html(rep_short)


def test_graded_items_and_fixed_calibration():
    rng = np.random.default_rng(4105)
    tp = cal.random_item_parameters(8, "GRM", n_categories=3, rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=1200, rng=rng)
    res = cal.fit(data, "GRM")
    rep = build_report(res, data, groups={"group": ["x", "y"] * 600, "reference": "x", "focal": "y"})
    assert isinstance(rep.item("item1").b, list) and len(rep.item("item1").b) == 2
    assert rep.fit.done
    assert rep.dif.status == "skipped" and "dichotomous" in rep.dif.reason
    assert rep.figures["icc"].startswith(PNG)
    assert render_pdf(rep).startswith(b"%PDF")
    assert "item8" in render_html(rep)

    # fixed-parameter calibration is already on the bank scale: drift compares without linking
    tp2 = cal.random_item_parameters(15, "2PL", rng=rng)
    data2, _ = cal.simulate_responses(tp2["a"], tp2["b"], n_persons=1500, rng=rng)
    bank = {f"item{j + 1}": {"a": float(tp2["a"][j]), "b": float(tp2["b"][j])} for j in range(15)}
    res2 = cal.fit(data2, "2PL", fixed={k: bank[k] for k in list(bank)[:6]})
    bank["item10"] = {"a": bank["item10"]["a"], "b": bank["item10"]["b"] - 1.2}
    rep2 = build_report(res2, data2, published=bank, figures=False)
    assert rep2.drift.details["link"] == "none"
    assert "drift" in rep2.item("item10").flag_codes
    assert not any(r["flagged"] for r in rep2.drift.rows if r["fixed"])
    assert rep2.summary["fixed_items"] == 6


def test_bad_dif_grouping_is_reported_not_raised(scenario):
    _, res, data = scenario
    rep = build_report(res, data, groups={"group": ["R", "F"], "reference": "R", "focal": "F"}, figures=False)
    assert rep.dif.status == "skipped" and "2 labels for 4000 persons" in rep.dif.reason
    rep = build_report(res, data, groups={"labels": {"p1": "R"}, "reference": "R", "focal": "F"}, figures=False)
    assert rep.dif.status == "skipped" and "both groups" in rep.dif.reason
    rep = build_report(res, data, groups={"group": ["R"] * 4000}, figures=False)
    assert rep.dif.status == "skipped" and "reference" in rep.dif.reason
