"""The learner JSON API for integrators: the same exam flow as the web pages."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, url_for
from sqlalchemy import select

from api.http import json_body, text_field
from api.services import issue_if_earned, session_factory, start_sitting, unit_of_work
from item_bank import delivery
from item_bank.models import Exam, Response

bp = Blueprint("learner_api", __name__, url_prefix="/api/v1")


def _session_view(db, session_id: str) -> dict[str, Any]:
    row = delivery.get_session(db, session_id)
    item = delivery.current_item(db, session_id)
    answered = db.execute(select(Response.id).where(Response.session_id == row.id)).all()
    view: dict[str, Any] = {
        "session_id": row.id,
        "exam_id": row.exam_id,
        "state": row.state,
        "answered": len(answered),
        "item": item.as_dict() if item else None,
    }
    if row.state == "completed":
        view["result_url"] = url_for("learner_api.result", session_id=row.id)
    return view


@bp.get("/exams")
def exams():
    with unit_of_work() as db:
        rows = db.execute(select(Exam).where(Exam.is_active.is_(True)).order_by(Exam.id)).scalars().all()
        return jsonify(exams=[{"id": e.id, "title": e.title, "description": e.description, "kind": e.kind,
                               "version": e.version} for e in rows])


@bp.post("/sessions")
def start():
    body = json_body()
    name, email, exam_id = (text_field(body, f) for f in ("name", "email", "exam_id"))
    organisation = text_field(body, "organisation", required=False)
    session_id = start_sitting(exam_id, name=name, email=email, organisation=organisation)
    with unit_of_work() as db:
        return jsonify(_session_view(db, session_id)), 201


@bp.get("/sessions/<session_id>")
def resume(session_id: str):
    with unit_of_work() as db:
        return jsonify(_session_view(db, session_id))


@bp.post("/sessions/<session_id>/answers")
def answer(session_id: str):
    body = json_body()
    outcome = delivery.submit_answer(session_factory(), session_id, seq=body.get("seq"),
                                     item_ref=body.get("item_id"), choice=body.get("choice"), actor="api")
    if outcome.finished:
        issue_if_earned(session_id)
    with unit_of_work() as db:
        view = _session_view(db, session_id)
    view["duplicate"] = outcome.duplicate
    return jsonify(view), (200 if outcome.duplicate else 201)


@bp.get("/sessions/<session_id>/result")
def result(session_id: str):
    with unit_of_work() as db:
        outcome = delivery.result(db, session_id).as_dict()
    certificate = issue_if_earned(session_id) if outcome["passed"] else None
    outcome["certificate"] = None if certificate is None else {
        "id": certificate.id,
        "valid_until": certificate.valid_until.date().isoformat(),
        "credential_url": url_for("hr.certificate_json", cert_id=certificate.id),
        "pdf_url": url_for("hr.certificate_pdf", cert_id=certificate.id),
        "verify_url": url_for("hr.verify_certificate", cert_id=certificate.id),
    }
    return jsonify(outcome)
