"""The messages Certamen sends, each from a plain-text and an HTML template (notifications/templates/).

Templates see only what the recipient may see: names, titles, dates and public links. Never keys, answers,
parameters or secrets.
"""
from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications.mail import Mail

_templates = Environment(loader=PackageLoader("notifications"), undefined=StrictUndefined,
                         autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


def render(template: str, **values: Any) -> tuple[str, str]:
    """(text, html) of one notice."""
    return (_templates.get_template(f"{template}.txt").render(**values),
            _templates.get_template(f"{template}.html").render(**values))


def certificate_resent(*, to: str, name: str, exam: str, certificate_id: str, valid_until: str, verify_url: str,
                       pdf_url: str, sender: str, issuer: str, key: str) -> Mail:
    """A staff member sends a holder their certificate again (from the console)."""
    text, html = render("certificate", name=name, exam=exam, certificate_id=certificate_id,
                        valid_until=valid_until, verify_url=verify_url, pdf_url=pdf_url, sender=sender,
                        issuer=issuer)
    return Mail(to=to, subject=f"Your certificate: {exam}", text=text, html=html, key=key)
