"""Admin routes: the audit trail and its integrity."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from api.auth import require_role
from api.services import unit_of_work
from item_bank.audit import verify_chain
from item_bank.models import AuditEvent

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/audit")
@require_role("admin")
def audit_events():
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
    with unit_of_work() as db:
        rows = db.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).scalars().all()
        return jsonify(events=[{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind,
                                "subject": e.subject, "data": e.data} for e in rows])


@bp.get("/audit/verify")
@require_role("admin")
def audit_verify():
    with unit_of_work() as db:
        report = verify_chain(db)
    return jsonify(ok=report.ok, checked=report.checked, problems=report.problems), (200 if report.ok else 409)
