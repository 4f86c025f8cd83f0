"""The report as HTML, rendered through ``templates/report.html`` with autoescaping on: every value
from the run (item ids, labels, reasons) is escaped by Jinja, none is marked safe. Figures are
``data:image/png;base64`` URIs, which contain no character HTML would need escaped."""

from __future__ import annotations

import base64
from functools import lru_cache

from . import tables
from .figures import TITLES
from .model import Report


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined
    return Environment(loader=PackageLoader("calibration.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       finalize=lambda v: "" if v is None else v)   # a missing value shows as nothing


def _figures(report: Report) -> list:
    return [{"key": key, "alt": TITLES.get(key, key), "caption": report.figure_captions.get(key, ""),
             "uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}
            for key, png in report.figures.items()]


def render_html(report: Report, *, standalone: bool = False, stylesheet_href: str | None = None) -> str:
    """HTML for ``report``: a ``<section class="calib-report">`` fragment, or with ``standalone``
    a complete page (``stylesheet_href`` adds a ``<link rel="stylesheet">``). All text is
    escaped; no inline styles; figures are embedded as data: URIs."""
    with_c = tables.with_c(report)
    item_headers, item_numeric = tables.item_headers(with_c)
    context = {
        "report": report, "title": tables.title(report), "tables": tables,
        "summary_pairs": tables.summary_pairs(report), "analyses": tables.analyses_overview(report),
        "figures": _figures(report),
        "item_headers": item_headers, "item_numeric": item_numeric,
        "items": [(r, tables.item_cells(r, with_c)) for r in report.items],
        "stylesheet_href": stylesheet_href,
    }
    name = "page.html" if standalone else "report.html"
    return _environment().get_template(name).render(context)
