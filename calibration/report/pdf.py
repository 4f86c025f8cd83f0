"""The report as a landscape A4 PDF (reportlab), with the same sections, rows and figures as the
HTML (both read them from :mod:`.tables`), for reviewers who sign off on paper or in a file."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape as xesc

from item_bank.pdf_fonts import register_first

from . import tables
from .figures import TITLES
from .model import Report


def _fonts() -> tuple[str, str]:
    """DejaVu Sans (bundled with matplotlib, covers non-Latin item ids) or Helvetica."""
    return (register_first(["DejaVuSans.ttf"]) or "Helvetica",
            register_first(["DejaVuSans-Bold.ttf"]) or "Helvetica-Bold")


def render_pdf(report: Report) -> bytes:
    """Landscape A4 PDF: title, summary, flagged items, per-item table, figures, drift/DIF/exposure."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image,
        KeepTogether,
        LongTable,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = _fonts()
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

    def text_table(headers, rows, widths):
        """rows: (cells, flagged) pairs from :mod:`.tables`."""
        data = [header_row(headers)] + [[P(c) for c in cells] for cells, _ in rows]
        flagged = [k for k, (_, is_flagged) in enumerate(rows, start=1) if is_flagged]
        return tbl(data, widths, flagged_rows=flagged)

    story: list = [P(tables.title(report), h1), P(f"Generated {report.generated_at}", note), Spacer(1, 4)]

    # summary (two label/value column pairs)
    pairs = [(k, str(v)) for k, v in tables.summary_pairs(report)]
    half = (len(pairs) + 1) // 2
    data = []
    for i in range(half):
        left = pairs[i]
        right = pairs[i + half] if i + half < len(pairs) else ("", "")
        data.append([P(left[0], cell_b), P(left[1]), P(right[0], cell_b), P(right[1])])
    story.append(tbl(data, [35 * mm, 95 * mm, 35 * mm, 95 * mm], header=False, long=False))
    story.append(P("Analyses", h2))
    data = [header_row(["Analysis", "Status", "Result / reason"])]
    for an_name, an_status, an_note in tables.analyses_overview(report):
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
            data.append([P(r.id), P(", ".join(r.flag_labels)), P("; ".join(r.reasons))])
        story.append(tbl(data, [50 * mm, 45 * mm, avail_w - 95 * mm]))
    else:
        story.append(P("No item was flagged.", base))

    # per-item table
    with_c = tables.with_c(report)
    story.append(P(f"Item parameters ({len(report.items)})", h2))
    heads, _ = tables.item_headers(with_c)
    heads[-2] = "Exp."
    grm = report.summary["model"] == "GRM"
    w_b = 38 * mm if grm else 13 * mm
    widths = [40 * mm, 12 * mm, 12 * mm, 12 * mm, w_b, w_b] + ([11 * mm] if with_c else []) + \
             [14 * mm, 9 * mm, 13 * mm, 10 * mm, 14 * mm, 12 * mm]
    widths.append(max(avail_w - sum(widths), 30 * mm))
    data = [header_row(heads)]
    frows = []
    for k, r in enumerate(report.items, start=1):
        data.append([P(r.id + (" (fixed)" if r.fixed else ""))] + [P(c) for c in tables.item_cells(r, with_c)]
                    + [P(", ".join(r.flag_labels))])
        if r.flags:
            frows.append(k)
    story.append(tbl(data, widths, flagged_rows=frows))

    # S-X2 note
    story.append(P(report.fit.name, h2))
    if report.fit.done:
        story.append(P(f"{tables.fit_intro(report.fit.details)} {report.fit.reason}", base))
    else:
        story.append(P(tables.status_line(report.fit), base))

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
            story.append(KeepTogether([P(TITLES.get(key, key), cell_b), img,
                                       P(report.figure_captions.get(key, ""), note), Spacer(1, 6)]))

    # drift, DIF, exposure
    sections = [
        (report.drift, tables.drift_intro, lambda an: tables.drift_rows(an), tables.DRIFT_HEADERS,
         [45 * mm, 20 * mm, 20 * mm, 15 * mm, 35 * mm, 35 * mm, 15 * mm, 15 * mm, avail_w - 200 * mm]),
        (report.dif, tables.dif_intro, lambda an: tables.dif_rows(an, report.thresholds.dif_categories),
         tables.DIF_HEADERS,
         [50 * mm, 18 * mm, 18 * mm, 25 * mm, 22 * mm, 18 * mm, 18 * mm, 12 * mm, avail_w - 181 * mm]),
        (report.exposure, tables.exposure_intro, lambda an: tables.exposure_rows(an), tables.EXPOSURE_HEADERS,
         [60 * mm, 30 * mm, 35 * mm, 30 * mm]),
    ]
    for an, intro, rows, headers, widths in sections:
        story.append(P(an.name, h2))
        if an.done:
            story.append(P(intro(an.details), base))
            story.append(text_table(headers, rows(an), widths))
        else:
            story.append(P(tables.status_line(an), base))

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
                            topMargin=margin, bottomMargin=14 * mm, title=tables.title(report),
                            author="Certamen", subject="IRT calibration review report")
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()
