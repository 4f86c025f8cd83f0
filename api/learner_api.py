"""The learner JSON API for integrators: the same exam flow as the web pages.

A learner registers or signs in for a bearer token; every sitting route answers only to the
learner who owns the sitting (to anyone else it does not exist).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, url_for
from sqlalchemy import select

from api import limits
from api.auth import learner_token, require_learner, sign_in_first
from api.http import json_body, text_field
from api.services import (
    issue_after_last_answer,
    issue_if_earned,
    register_learner,
    session_factory,
    sign_in,
    start_sitting,
    unit_of_work,
)
from item_bank import accounts, delivery
from storage import Candidate, Exam, Sitting

bp = Blueprint("learner_api", __name__, url_prefix="/api/v1")


def _own_session(db, session_id: str) -> Sitting:
    return delivery.get_sitting(db, session_id, candidate_id=require_learner())


def _session_view(db, session_id: str) -> dict[str, Any]:
    return _api_view(delivery.sitting_view(db, _own_session(db, session_id)))


def _api_view(view: delivery.SittingView) -> dict[str, Any]:
    body = view.as_dict()
    if view.state == "completed":
        body["result_url"] = url_for("learner_api.result", session_id=view.session_id)
    return body


@bp.get("/exams")
def exams():
    with unit_of_work() as db:
        rows = db.execute(select(Exam).where(Exam.is_active.is_(True)).order_by(Exam.id)).scalars().all()
        return jsonify(exams=[{"id": e.id, "title": e.title, "description": e.description, "kind": e.kind,
                               "version": e.version} for e in rows])


def _signed_in(signed_in: accounts.SignedIn, status: int):
    return jsonify(learner_id=signed_in.candidate_id, token=signed_in.token,
                   expires_at=signed_in.expires_at.isoformat()), status


REGISTERED = ("registration received: sign in with this e-mail address and your password "
              "(POST /api/v1/signin) for a learner token")


@bp.post("/learners")
@limits.register
def register():
    """202 and the same body whether or not the address had an account (accounts.register): the
    token comes from signing in."""
    body = json_body()
    name, email, password = (text_field(body, f) for f in ("name", "email", "password"))
    organisation = text_field(body, "organisation", required=False)
    register_learner(name=name, email=email, password=password, organisation=organisation)
    return jsonify(status="received", message=REGISTERED, signin_url=url_for("learner_api.signin")), 202


@bp.post("/signin")
@limits.signin
def signin():
    body = json_body()
    email, password = text_field(body, "email"), text_field(body, "password")
    return _signed_in(sign_in(email=email, password=password, label="api", address=limits.remote_address()), 200)


@bp.post("/signout")
def signout():
    require_learner()
    with unit_of_work() as db:
        accounts.end_session(db, learner_token())
    return "", 204


@bp.get("/me")
def me():
    with unit_of_work() as db:
        candidate = db.get(Candidate, require_learner())
        return jsonify(learner_id=candidate.id, name=candidate.name, email=candidate.email,
                       organisation=candidate.organisation)


@bp.post("/sessions")
def start():
    me = require_learner()
    exam_id = text_field(json_body(), "exam_id")
    return jsonify(_api_view(start_sitting(exam_id, candidate_id=me))), 201


@bp.get("/sessions/<session_id>")
def resume(session_id: str):
    with unit_of_work() as db:
        return jsonify(_session_view(db, session_id))


@bp.post("/sessions/<session_id>/answers")
@limits.answers
def answer(session_id: str):
    token = learner_token()  # checked while answering, in the statement that reads the sitting
    if token is None:
        sign_in_first()
    body = json_body()
    try:
        outcome = delivery.submit_answer(session_factory(), session_id, seq=body.get("seq"),
                                         item_ref=body.get("item_id"), choice=body.get("choice"), learner_token=token)
    except delivery.NotSignedIn:
        sign_in_first()
    if outcome.decision == "pass":
        issue_after_last_answer(session_id)
    view = _api_view(outcome.view)
    view["duplicate"] = outcome.duplicate
    if outcome.timed_out:
        view["error"] = ("the time limit had passed: the answer was not recorded and the exam was scored on the "
                         "answers given in time")
        return jsonify(view), 409
    return jsonify(view), (200 if outcome.duplicate else 201)


@bp.get("/sessions/<session_id>/result")
def result(session_id: str):
    with unit_of_work() as db:
        outcome = delivery.result(db, session_id, candidate_id=require_learner()).as_dict()
    certificate = issue_if_earned(session_id) if outcome["passed"] else None
    outcome["certificate"] = None if certificate is None else {
        "id": certificate.id,
        "valid_until": certificate.valid_until.date().isoformat(),
        "credential_url": url_for("hr.certificate_json", cert_id=certificate.id),
        "pdf_url": url_for("hr.certificate_pdf", cert_id=certificate.id),
        "verify_url": url_for("hr.verify_certificate", cert_id=certificate.id),
    }
    return jsonify(outcome)
