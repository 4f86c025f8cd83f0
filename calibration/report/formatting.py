"""How numbers and ids are written in the report, shared by the analysis, the figures, HTML and PDF
so that every presentation shows the same digits and dashes."""

from __future__ import annotations

import math
import re

import numpy as np


def num(x) -> float | None:
    """A finite float, or None (NaN, inf and non-numbers are "no value")."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def json_safe(x):
    """Plain JSON types: numpy scalars and arrays converted, non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return [json_safe(v) for v in x.tolist()]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return num(x)
    return x


def natural_key(s) -> list:
    """Sort key putting item2 before item10."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(s)) if t]


def fmt(x, digits: int = 2) -> str:
    """A number (or a list of GRM thresholds) with ``digits`` decimals; "–" when missing."""
    if isinstance(x, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in x) if x else "–"
    v = num(x)
    if v is None:
        return "–"
    return f"{v:.{digits}f}"


def fmt_p(p) -> str:
    """A p-value: three decimals, "<0.001" below that."""
    v = num(p)
    if v is None:
        return "–"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def shorten(s, n: int) -> str:
    """At most ``n`` characters, with an ellipsis when cut (figure titles and legends)."""
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"
