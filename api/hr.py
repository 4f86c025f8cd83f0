"""HR and public verification of certificates."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("hr", __name__)


@bp.get("/verify")
def verify_page():
    return render_template("verify.html")
