"""One-page landscape PDF certificate with the signed credential embedded.

``render_certificate_pdf(credential, verification_url=...) -> bytes`` draws the certificate
(learner, exam, scheme, dates, certificate id, issuer, a QR code to the public verification
page) from the *signed credential* itself, and attaches the credential JSON to the PDF as
``credential.json``, so the PDF alone can be verified offline:
``extract_credential_from_pdf(pdf_bytes) -> dict`` gets it back.

Fonts: DejaVu / STIX TrueType fonts are looked up in ``$CERTAMEN_FONT_DIR``, matplotlib's
bundled font directory (matplotlib is a project dependency) and the usual system font
directories, with per-character fallback (e.g. to a CJK font when the system has one); if
none is found the PDF core fonts are used.
"""
from __future__ import annotations

import io
import json
import logging
from functools import lru_cache
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from errors import CertamenError, Kind
from item_bank.pdf_fonts import find_font, register_first, register_font

from .credential import credential_summary
from .form import FormError, loads_strict
from .signing import parse_datetime

log = logging.getLogger(__name__)

ATTACHMENT_NAME = "credential.json"
MAX_PDF_BYTES = 20_000_000
MAX_CREDENTIAL_BYTES = 256 * 1024   # a credential is a few KB
_STREAM_LIMIT = 4_000_000           # bytes any one stream may inflate to while reading an upload
_DECOMPRESSION_LIMITS = {
    "zlib_maximum_output_length": _STREAM_LIMIT, "lzw_maximum_output_length": _STREAM_LIMIT,
    "run_length_maximum_output_length": _STREAM_LIMIT, "jbig2_maximum_output_length": _STREAM_LIMIT,
    "array_based_stream_maximum_output_length": _STREAM_LIMIT,
    "maximum_declared_stream_length": _STREAM_LIMIT,
}

NAVY = HexColor("#14284B")
GOLD = HexColor("#B08D3C")
GOLD_LIGHT = HexColor("#D9C38A")
INK = HexColor("#22262E")
MUTED = HexColor("#5D6470")
PAPER = HexColor("#FCFAF4")


class PdfCredentialError(CertamenError, ValueError):
    """The bytes are not a certificate PDF with an embedded credential.

    ``code`` is one of ``not_pdf``, ``truncated``, ``corrupt``, ``no_credential``,
    ``invalid_credential``."""

    kind = Kind.MALFORMED

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- fonts

_FONT_FILES = {
    # role: candidate file names (first found wins)
    "title": ["STIXGeneralBol.ttf", "DejaVuSerif-Bold.ttf"],
    "name": ["STIXGeneralBolIta.ttf", "STIXGeneralItalic.ttf", "DejaVuSerif-BoldItalic.ttf",
             "DejaVuSerif-Italic.ttf"],
    "serif": ["STIXGeneral.ttf", "DejaVuSerif.ttf"],
    "serif_italic": ["STIXGeneralItalic.ttf", "DejaVuSerif-Italic.ttf"],
    "serif_bold": ["STIXGeneralBol.ttf", "DejaVuSerif-Bold.ttf"],
    "sans": ["DejaVuSans.ttf"],
    "sans_bold": ["DejaVuSans-Bold.ttf"],
    "mono": ["DejaVuSansMono.ttf"],
}
_FALLBACK_FILES = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DroidSansFallbackFull.ttf",
                   "DroidSansFallback.ttf", "NotoSansCJK-Regular.ttc"]
_CORE = {"title": "Times-Bold", "name": "Times-BoldItalic", "serif": "Times-Roman",
         "serif_italic": "Times-Italic", "serif_bold": "Times-Bold", "sans": "Helvetica",
         "sans_bold": "Helvetica-Bold", "mono": "Courier"}


@lru_cache(maxsize=1)
def _fonts() -> tuple[dict[str, str], tuple[str, ...]]:
    roles = {role: register_first(names) or _CORE[role] for role, names in _FONT_FILES.items()}
    fallbacks = []
    for n in _FALLBACK_FILES:
        p = find_font(n)
        if p and (reg := register_font(p)) and reg not in fallbacks:
            fallbacks.append(reg)
    return roles, tuple(fallbacks)


def _covers(font: str, ch: str) -> bool:
    f = pdfmetrics.getFont(font)
    face = getattr(f, "face", None)
    if face is not None and hasattr(face, "charToGlyph"):
        return ord(ch) in face.charToGlyph
    return ord(ch) < 256  # core fonts: Latin-1


def _runs(text: str, font: str) -> list[tuple[str, str]]:
    """Split text into (font, chunk) runs, falling back per character to fonts that have it."""
    _, fallbacks = _fonts()
    chain = (font,) + tuple(f for f in fallbacks if f != font)
    runs: list[tuple[str, str]] = []
    for ch in text:
        chosen = next((f for f in chain if _covers(f, ch)), None)
        if chosen is None:
            chosen, ch = font, "?"
        if runs and runs[-1][0] == chosen:
            runs[-1] = (chosen, runs[-1][1] + ch)
        else:
            runs.append((chosen, ch))
    return runs


def _width(text: str, font: str, size: float) -> float:
    return sum(pdfmetrics.stringWidth(chunk, f, size) for f, chunk in _runs(text, font))


def _draw(c: canvas.Canvas, x: float, y: float, text: str, font: str, size: float,
          color: Color = INK, align: str = "left", spacing: float = 0.0) -> float:
    """Draw text with font fallback; returns its width."""
    runs = _runs(text, font)
    width = sum(pdfmetrics.stringWidth(ch, f, size) for f, ch in runs) + spacing * max(
        len(text) - 1, 0)
    if align == "center":
        x -= width / 2
    elif align == "right":
        x -= width
    c.setFillColor(color)
    t = c.beginText(x, y)
    t.setCharSpace(spacing)
    for f, chunk in runs:
        t.setFont(f, size)
        t.textOut(chunk)
    c.drawText(t)
    return width


def _fit(text: str, font: str, size: float, max_width: float, min_size: float = 8) -> float:
    while size > min_size and _width(text, font, size) > max_width:
        size -= 0.5
    return size


def _wrap(text: str, font: str, size: float, max_width: float, max_lines: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        trial = f"{line} {w}".strip()
        if _width(trial, font, size) <= max_width or not line:
            line = trial
        else:
            lines.append(line)
            line = w
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        while lines[-1] and _width(lines[-1] + "…", font, size) > max_width:
            lines[-1] = lines[-1][:-1]
        lines[-1] = lines[-1].rstrip() + "…"
    return lines


# --------------------------------------------------------------------------- drawing


def _long_date(value: str | None) -> str:
    dt = parse_datetime(value) if value else None
    if dt is None:
        return "—"
    return f"{dt.day} {dt.strftime('%B')} {dt.year}"


def _frame(c: canvas.Canvas, w: float, h: float) -> None:
    c.setFillColor(PAPER)
    c.rect(0, 0, w, h, stroke=0, fill=1)
    # outer navy band, gold hairlines
    m = 18
    c.setStrokeColor(NAVY)
    c.setLineWidth(7)
    c.rect(m, m, w - 2 * m, h - 2 * m, stroke=1, fill=0)
    c.setStrokeColor(GOLD)
    c.setLineWidth(1.2)
    c.rect(m + 9, m + 9, w - 2 * m - 18, h - 2 * m - 18, stroke=1, fill=0)
    c.setLineWidth(0.5)
    c.rect(m + 13, m + 13, w - 2 * m - 26, h - 2 * m - 26, stroke=1, fill=0)
    # corner ornaments
    c.setFillColor(GOLD)
    for cx, cy in ((m + 11, m + 11), (w - m - 11, m + 11), (m + 11, h - m - 11),
                   (w - m - 11, h - m - 11)):
        p = c.beginPath()
        p.moveTo(cx, cy + 7)
        p.lineTo(cx + 7, cy)
        p.lineTo(cx, cy - 7)
        p.lineTo(cx - 7, cy)
        p.close()
        c.drawPath(p, stroke=0, fill=1)


def _seal(c: canvas.Canvas, x: float, y: float, r: float, fonts: dict[str, str]) -> None:
    c.setFillColor(GOLD)
    c.setStrokeColor(GOLD)
    # scalloped rosette
    import math

    p = c.beginPath()
    n = 36
    for i in range(n + 1):
        a = 2 * math.pi * i / n
        rr = r if i % 2 == 0 else r * 0.93
        px, py = x + rr * math.cos(a), y + rr * math.sin(a)
        if i == 0:
            p.moveTo(px, py)
        else:
            p.lineTo(px, py)
    p.close()
    c.drawPath(p, stroke=0, fill=1)
    c.setFillColor(PAPER)
    c.circle(x, y, r * 0.80, stroke=0, fill=1)
    c.setStrokeColor(GOLD)
    c.setLineWidth(0.8)
    c.circle(x, y, r * 0.74, stroke=1, fill=0)
    _draw(c, x, y + r * 0.22, "DIGITALLY", fonts["sans_bold"], r * 0.15, NAVY, "center", 0.6)
    _draw(c, x, y - r * 0.02, "SIGNED", fonts["sans_bold"], r * 0.15, NAVY, "center", 0.6)
    c.setStrokeColor(GOLD)
    c.setLineWidth(0.6)
    c.line(x - r * 0.38, y - r * 0.14, x + r * 0.38, y - r * 0.14)
    _draw(c, x, y - r * 0.34, "W3C VC 2.0", fonts["sans"], r * 0.12, MUTED, "center", 0.3)


def _qr(c: canvas.Canvas, value: str, x: float, y: float, size: float) -> None:
    widget = QrCodeWidget(value, barLevel="M", barBorder=0)
    x0, y0, x1, y1 = widget.getBounds()
    bw, bh = x1 - x0, y1 - y0
    d = Drawing(size, size, transform=[size / bw, 0, 0, size / bh, -x0 * size / bw,
                                       -y0 * size / bh])
    d.add(widget)
    c.setFillColor(HexColor("#FFFFFF"))
    c.rect(x - 5, y - 5, size + 10, size + 10, stroke=0, fill=1)
    renderPDF.draw(d, c, x, y)


def _guilloche(c: canvas.Canvas, x: float, y: float, r: float) -> None:
    """A faint rosette of overlapping ellipses behind the text."""
    import math

    c.saveState()
    c.setStrokeColor(Color(0.69, 0.55, 0.24, alpha=0.10))
    c.setLineWidth(0.45)
    for i in range(36):
        a = math.pi * i / 36
        p = c.beginPath()
        for k in range(73):
            t = 2 * math.pi * k / 72
            ex, ey = r * math.cos(t), r * 0.42 * math.sin(t)
            px = x + ex * math.cos(a) - ey * math.sin(a)
            py = y + ex * math.sin(a) + ey * math.cos(a)
            if k == 0:
                p.moveTo(px, py)
            else:
                p.lineTo(px, py)
        c.drawPath(p, stroke=1, fill=0)
    c.restoreState()


def _draw_certificate(c: canvas.Canvas, s: dict[str, Any], verification_url: str | None,
                      title: str, subtitle: str) -> None:
    fonts, _ = _fonts()
    w, h = landscape(A4)
    _frame(c, w, h)
    _guilloche(c, w / 2, h / 2 + 20, 190)
    cx = w / 2
    inner = w - 2 * 80

    issuer = s.get("issuer_name") or "Certification body"
    _draw(c, cx, h - 88, issuer.upper(), fonts["sans_bold"], _fit(issuer.upper(),
          fonts["sans_bold"], 11, inner), NAVY, "center", 2.2)
    c.setStrokeColor(GOLD)
    c.setLineWidth(0.8)
    c.line(cx - 60, h - 100, cx + 60, h - 100)

    _draw(c, cx, h - 152, title.upper(), fonts["title"],
          _fit(title.upper(), fonts["title"], 46, inner - 80, 20), NAVY, "center", 6)
    _draw(c, cx, h - 180, subtitle.upper(), fonts["serif"],
          _fit(subtitle.upper(), fonts["serif"], 15, inner - 80, 8), GOLD, "center", 4)

    _draw(c, cx, h - 222, "This is to certify that", fonts["serif_italic"], 14, MUTED, "center")
    name = s.get("learner_name") or "—"
    nsize = _fit(name, fonts["name"], 40, inner - 60, 18)
    _draw(c, cx, h - 268, name, fonts["name"], nsize, INK, "center")
    c.setStrokeColor(GOLD_LIGHT)
    c.setLineWidth(1)
    c.line(cx - 220, h - 282, cx + 220, h - 282)

    _draw(c, cx, h - 308, "has successfully passed the certification examination",
          fonts["serif_italic"], 13, MUTED, "center")
    exam = s.get("exam_name") or "—"
    esize = _fit(exam, fonts["serif_bold"], 22, inner - 40, 12)
    _draw(c, cx, h - 336, exam, fonts["serif_bold"], esize, NAVY, "center")

    scheme_bits = []
    if s.get("scheme_name"):
        scheme_bits.append(f"{s['scheme_name']} certification scheme"
                           + (f", version {s['scheme_version']}" if s.get("scheme_version") else ""))
    if s.get("exam_version"):
        scheme_bits.append(f"exam version {s['exam_version']}")
    y = h - 358
    if scheme_bits:
        line = " · ".join(scheme_bits)
        _draw(c, cx, y, line, fonts["sans"], _fit(line, fonts["sans"], 10.5, inner), INK, "center")
        y -= 16
    if s.get("scope"):
        for ln in _wrap("Scope: " + s["scope"], fonts["sans"], 9.5, inner - 120, 2):
            _draw(c, cx, y, ln, fonts["sans"], 9.5, MUTED, "center")
            y -= 13
    if s.get("content_areas"):
        areas = "Content areas: " + " · ".join(s["content_areas"])
        for ln in _wrap(areas, fonts["sans"], 8.5, inner - 160, 1):
            _draw(c, cx, y, ln, fonts["sans"], 8.5, MUTED, "center")

    # bottom band: dates & id on the left, seal in the middle, QR on the right
    base = 150
    col_x = 96
    labels = [("DATE OF ISSUE", _long_date(s.get("awarded") or s.get("valid_from"))),
              ("VALID UNTIL", _long_date(s.get("valid_until")) if s.get("valid_until")
               else "No expiry")]
    for i, (label, value) in enumerate(labels):
        x = col_x + i * 150
        _draw(c, x, base + 22, label, fonts["sans_bold"], 7.5, GOLD, "left", 1.4)
        _draw(c, x, base + 6, value, fonts["serif"], 13, INK)
    cert_id = s.get("certificate_id") or "—"
    _draw(c, col_x, base - 22, "CERTIFICATE ID", fonts["sans_bold"], 7.5, GOLD, "left", 1.4)
    _draw(c, col_x, base - 36, cert_id, fonts["mono"], _fit(cert_id, fonts["mono"], 8.5, 300, 5),
          INK)
    _draw(c, col_x, base - 62, "ISSUED BY", fonts["sans_bold"], 7.5, GOLD, "left", 1.4)
    _draw(c, col_x, base - 75, issuer, fonts["sans"], _fit(issuer, fonts["sans"], 9, 300, 6), INK)
    if s.get("issuer_id"):
        _draw(c, col_x, base - 86, s["issuer_id"], fonts["mono"],
              _fit(s["issuer_id"], fonts["mono"], 7, 300, 4.5), MUTED)

    _seal(c, cx + 40, base - 8, 44, fonts)

    if verification_url:
        qsize = 92
        qx, qy = w - 96 - qsize, base - 62
        _qr(c, verification_url, qx, qy, qsize)
        _draw(c, qx + qsize / 2, qy - 17, "Scan to verify", fonts["sans_bold"], 8, NAVY,
              "center", 0.8)
        shown = verification_url.replace("https://", "")
        _draw(c, qx + qsize / 2, qy - 28, shown, fonts["sans"],
              _fit(shown, fonts["sans"], 6.5, 170, 4), MUTED, "center")

    foot = ("This PDF carries its signed W3C Verifiable Credential (Open Badges 3.0) as the "
            f"attachment “{ATTACHMENT_NAME}”, verifiable offline against the issuer's public keys.")
    _draw(c, cx, 41, foot, fonts["sans"], _fit(foot, fonts["sans"], 6.8, w - 140, 5), MUTED,
          "center")


def render_certificate_pdf(
    credential: dict[str, Any],
    *,
    verification_url: str | None = None,
    title: str = "Certificate",
    subtitle: str = "of Achievement",
) -> bytes:
    """Render the signed ``credential`` as a one-page landscape PDF with the credential JSON
    attached (``credential.json``). ``verification_url`` (the public page the QR code points
    to) defaults to the credential id when that is an http(s) URL."""
    if not isinstance(credential, dict) or "proof" not in credential:
        raise ValueError("render_certificate_pdf needs the signed credential (with its proof)")
    summary = credential_summary(credential)
    if verification_url is None:
        cid = summary.get("certificate_id") or ""
        verification_url = cid if cid.startswith(("https://", "http://")) else None
    buf = io.BytesIO()
    w, h = landscape(A4)
    c = canvas.Canvas(buf, pagesize=(w, h), pageCompression=1, invariant=1)
    doc_title = f"{summary.get('exam_name') or 'Certificate'} — " \
                f"{summary.get('learner_name') or ''}".strip(" —")
    c.setTitle(doc_title)
    c.setAuthor(summary.get("issuer_name") or "")
    c.setSubject("Certificate with embedded W3C Verifiable Credential")
    c.setCreator("Certamen")
    _draw_certificate(c, summary, verification_url, title, subtitle)
    c.showPage()
    c.save()
    return _attach(buf.getvalue(), credential)


def _attach(pdf: bytes, credential: dict[str, Any]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    payload = json.dumps(credential, ensure_ascii=False, indent=2).encode("utf-8")
    writer.add_attachment(ATTACHMENT_NAME, payload)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def extract_credential_from_pdf(data: bytes) -> dict[str, Any]:
    """The credential embedded in a certificate PDF (raises PdfCredentialError)."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise PdfCredentialError("not_pdf", "expected the PDF file's bytes")
    if len(data) > MAX_PDF_BYTES:
        raise PdfCredentialError("not_pdf", "file too large for a certificate PDF")
    if b"%PDF-" not in data[:1024]:
        raise PdfCredentialError("not_pdf", "this file is not a PDF")
    if b"%%EOF" not in data[-2048:]:
        raise PdfCredentialError("truncated", "the PDF file is truncated (no end-of-file marker)")
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    pypdf_log = logging.getLogger("pypdf")
    old_level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        # anyone may upload: no stream may inflate past what a certificate PDF holds (pypdf's
        # default allows 75 MB per stream, per anonymous request)
        with apply_configuration(None, **_DECOMPRESSION_LIMITS):
            reader = PdfReader(io.BytesIO(data), strict=False)
            blobs = reader.attachments.get(ATTACHMENT_NAME)
    except LimitReachedError:
        raise PdfCredentialError("too_large", "the PDF holds far more data than a certificate does") \
            from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError) as exc:
        raise PdfCredentialError("corrupt", f"the PDF cannot be read ({exc.__class__.__name__})") \
            from None
    finally:
        pypdf_log.setLevel(old_level)
    if not blobs:
        raise PdfCredentialError("no_credential",
                                 f"the PDF has no embedded credential ({ATTACHMENT_NAME})")
    raw = blobs[0]
    if len(raw) > MAX_CREDENTIAL_BYTES:
        raise PdfCredentialError("invalid_credential", "the embedded file is far larger than a credential")
    try:
        cred = loads_strict(raw.decode("utf-8"))
    except FormError as exc:
        raise PdfCredentialError("invalid_credential", f"the embedded credential is not in the "
                                                       f"expected form: {exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PdfCredentialError("invalid_credential", "the embedded credential is not valid JSON") \
            from None
    if not isinstance(cred, dict):
        raise PdfCredentialError("invalid_credential", "the embedded credential is not a JSON object")
    return cred


__all__ = ["render_certificate_pdf", "extract_credential_from_pdf", "PdfCredentialError",
           "ATTACHMENT_NAME"]
