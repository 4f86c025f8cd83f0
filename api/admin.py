"""Admin routes: the audit trail, certificate status, policy changes, learner access."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, g, jsonify, request
from sqlalchemy import select

from api.auth import require_role
from api.http import json_body, text_field
from api.services import issuer, unit_of_work
from certs import checkpoints, resits
from certs.records import audit_report
from certs.service import add_policy_change, certificate_row, change_status
from item_bank import accounts, integrity
from storage import AuditEvent, Candidate, Exam

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/audit")
@require_role("admin")
def audit_events():
    """The newest events, with the newest signed checkpoint (to keep with an export of them)."""
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
    with unit_of_work() as db:
        rows = db.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).scalars().all()
        return jsonify(events=[{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind,
                                "subject": e.subject, "data": e.data} for e in rows],
                       checkpoint=checkpoints.latest_checkpoint(db))


@bp.get("/audit/verify")
@require_role("admin")
def audit_verify():
    """Chains, records against events, checkpoints: what `certamen audit verify` reports."""
    with unit_of_work() as db:
        report = audit_report(db, issuer().keys.trust_store())
    return jsonify(ok=report.ok, checked=report.checked, checkpoints=report.checkpoints,
                   problems=report.problems), (200 if report.ok else 409)


@bp.post("/audit/checkpoints")
@require_role("admin")
def audit_checkpoint():
    """Sign and record the trail's head now (as `certamen audit checkpoint`); published at /audit/checkpoint."""
    settings = issuer()
    with unit_of_work() as db:
        checkpoint = checkpoints.create_checkpoint(db, settings.keys, log_url=f"{settings.public_url}/audit",
                                                   actor=g.actor)
    return jsonify(checkpoint), 201


@bp.post("/certificates/<cert_id>/allow-resit")
@require_role("admin")
def allow_resit(cert_id: str):
    """Let the holder of a suspended or revoked certificate sit its exam again, with a recorded reason."""
    reason = text_field(json_body(), "reason")
    with unit_of_work() as db:
        allowance = resits.allow_resit(db, cert_id, reason=reason, actor=g.actor)
        return jsonify(id=allowance.id, certificate_id=allowance.certificate_id, allowed_by=allowance.allowed_by,
                       reason=allowance.reason, allowed_at=allowance.allowed_at.isoformat()), 201


@bp.post("/certificates/<cert_id>/<action>")
@require_role("admin")
def certificate_action(cert_id: str, action: str):
    """Suspend, reinstate or revoke a certificate, with a reason; published through the status lists."""
    reason = text_field(json_body(), "reason")
    with unit_of_work() as db:
        cert = change_status(db, cert_id, action, reason=reason, actor=g.actor)
        return jsonify(certificate_row(db, cert))


@bp.post("/policy-changes")
@require_role("admin")
def policy_change():
    """Require everyone certified under an older exam version to recertify by a date."""
    body = json_body()
    exam_id = text_field(body, "exam_id")
    min_version = body.get("min_exam_version")
    if isinstance(min_version, bool) or not isinstance(min_version, int) or not 1 <= min_version <= 1_000_000:
        abort(400, description="'min_exam_version' must be an integer exam version (1 to 1,000,000)")
    try:
        deadline = datetime.fromisoformat(text_field(body, "deadline"))
    except ValueError:
        abort(400, description="'deadline' must be an ISO date, e.g. 2027-03-01")
    reason = text_field(body, "reason", required=False) or ""
    with unit_of_work() as db:
        change = add_policy_change(db, exam_id, min_version, deadline, reason, actor=g.actor)
        return jsonify(id=change.id, exam_id=exam_id, min_exam_version=min_version,
                       deadline=change.deadline.isoformat()), 201


@bp.post("/learners/signin-links")
@require_role("admin")
def signin_link():
    """A one-time sign-in link for a learner (first access for an imported account, lost password)."""
    body = json_body()
    email = text_field(body, "email")
    minutes = body.get("valid_minutes", accounts.SIGNIN_LINK_MINUTES)
    with unit_of_work() as db:
        link = accounts.create_signin_link(db, email, actor=g.actor, minutes=minutes)
    # The secret travels in the URL's fragment, which no server or proxy on the way logs.
    return jsonify(url=link.url(current_app.config["PUBLIC_URL"]), expires_at=link.expires_at.isoformat(),
                   valid_minutes=minutes), 201


@bp.post("/learners/<int:candidate_id>/attempt-grants")
@require_role("admin")
def grant_attempt(candidate_id: int):
    """Lets a learner past an exam's attempt limit and waiting period, with a recorded reason."""
    body = json_body()
    exam_id, reason = text_field(body, "exam_id"), text_field(body, "reason")
    with unit_of_work() as db:
        if candidate_id > 2**31 - 1 or db.get(Candidate, candidate_id) is None:
            abort(404, description="no such learner")
        if db.get(Exam, exam_id[:80]) is None:
            abort(404, description="no such exam")
        grant = integrity.grant_attempt(db, candidate_id=candidate_id, exam_id=exam_id, actor=g.actor, reason=reason)
        return jsonify(id=grant.id, candidate_id=candidate_id, exam_id=exam_id,
                       granted_at=grant.granted_at.isoformat()), 201
