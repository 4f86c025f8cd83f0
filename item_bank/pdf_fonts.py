"""Finding and registering TrueType fonts for the PDFs Certamen draws (certificates in ``certs``,
calibration reports in ``calibration``). It lives here because both packages may import
``item_bank`` but not each other. DejaVu ships with matplotlib (a dependency), so item ids and
names in non-Latin scripts print even on a bare system; reportlab is imported only when a font is
registered."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_extra_dirs: list[Path] = []  # settings.Settings.font_dir, set by the app factory and the CLI


def use_font_dir(path: Path | None) -> None:
    """Look in `path` first (CERTAMEN_FONT_DIR). Fonts are a property of the machine, not of a call, so
    this is set once per process rather than handed to every function that draws a PDF."""
    _extra_dirs[:] = [path] if path else []


def font_dirs() -> list[Path]:
    """Where fonts are looked for, in order: the configured folder, matplotlib's bundled fonts,
    the usual system font directories (those that exist)."""
    dirs = list(_extra_dirs)
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            dirs.append(Path(loc) / "mpl-data" / "fonts" / "ttf")
    dirs += [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/droid"),
             Path("/usr/share/fonts-droid-fallback/truetype"), Path("/usr/share/fonts/truetype"),
             Path("/usr/local/share/fonts")]
    return [d for d in dirs if d.is_dir()]


def find_font(name: str) -> Path | None:
    """The first file called ``name`` in :func:`font_dirs`."""
    for d in font_dirs():
        p = d / name
        if p.is_file():
            return p
    return None


def register_font(path: Path) -> str | None:
    """Register ``path`` with reportlab (once) and return its font name, or None if unusable."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    name = "Certamen-" + path.stem
    try:
        pdfmetrics.getFont(name)
        return name
    except KeyError:
        pass
    try:
        pdfmetrics.registerFont(TTFont(name, str(path)))
        return name
    except Exception as exc:  # unusable font file: skip it
        log.debug("font %s not usable: %s", path, exc)
        return None


def register_first(names) -> str | None:
    """The reportlab name of the first of the font files ``names`` that is found and usable."""
    for n in names:
        p = find_font(n)
        if p and (reg := register_font(p)):
            return reg
    return None
