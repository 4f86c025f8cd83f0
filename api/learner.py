"""Learner web pages: register, sit an exam one item per page, resume, see the result."""
from __future__ import annotations

from functools import lru_cache

import markdown
from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from sqlalchemy import select

from api.auth import check_csrf, csrf_token
from api.services import issue_if_earned, session_factory, start_sitting, unit_of_work
from certs.service import candidate_certificates
from item_bank import delivery
from item_bank.content import area_titles, load_guides
from item_bank.models import Candidate, Exam, ExamSession

bp = Blueprint("learner", __name__)


@bp.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "area_titles": area_titles()}


@lru_cache(maxsize=1)
def _guides_html() -> dict[str, str]:
    return {slug: markdown.markdown(text) for slug, text in load_guides().items()}


@bp.before_request
def _protect_forms():
    if request.method == "POST":
        check_csrf()


def _candidate_id() -> int | None:
    value = session.get("candidate_id")
    return value if isinstance(value, int) else None


def _own_session(db, session_id: str) -> ExamSession:
    """The session id is an unguessable capability; a signed-in learner may only open their own."""
    row = delivery.get_session(db, session_id)
    me = _candidate_id()
    if me is not None and row.candidate_id != me:
        abort(403, description="this exam belongs to someone else")
    return row


@bp.get("/")
def index():
    me = _candidate_id()
    with unit_of_work() as db:
        exams = db.execute(select(Exam).where(Exam.is_active.is_(True)).order_by(Exam.kind, Exam.title)).scalars().all()
        candidate = db.get(Candidate, me) if me else None
        sittings = []
        if candidate:
            sittings = db.execute(
                select(ExamSession).where(ExamSession.candidate_id == candidate.id).order_by(ExamSession.started_at.desc())
            ).scalars().all()
        running = {s.exam_id: s.id for s in sittings if s.state == "in_progress"}
        return render_template("index.html", exams=exams, candidate=candidate, sittings=sittings, running=running)


@bp.post("/register")
def register():
    with unit_of_work() as db:
        candidate = delivery.register_candidate(
            db, name=request.form.get("name", ""), email=request.form.get("email", ""),
            organisation=request.form.get("organisation"),
        )
        session.permanent = True
        session["candidate_id"] = candidate.id
    return redirect(url_for("learner.index"))


@bp.post("/signout")
def signout():
    session.clear()
    return redirect(url_for("learner.index"))


@bp.post("/exams/<exam_id>/start")
def start(exam_id: str):
    me = _candidate_id()
    if me is None:
        return redirect(url_for("learner.index"))
    return redirect(url_for("learner.sit", session_id=start_sitting(exam_id, candidate_id=me)))


@bp.get("/sit/<session_id>")
def sit(session_id: str):
    with unit_of_work() as db:
        row = _own_session(db, session_id)
        if row.state == "completed":
            return redirect(url_for("learner.result", session_id=row.id))
        item = delivery.current_item(db, session_id)
        if item is None:
            abort(409, description="this exam is no longer in progress")
        max_length = int(row.cat_config.get("max_length", 0)) or None
        return render_template("item.html", item=item, exam=row.exam, max_length=max_length)


@bp.post("/sit/<session_id>/answer")
def answer(session_id: str):
    with unit_of_work() as db:
        _own_session(db, session_id)
    choice = request.form.get("choice")
    if choice is None:
        with unit_of_work() as db:
            item = delivery.current_item(db, session_id)
            row = delivery.get_session(db, session_id)
            if item is None:
                return redirect(url_for("learner.sit", session_id=session_id))
            return render_template("item.html", item=item, exam=row.exam, error="Choose one answer before you continue.",
                                   max_length=int(row.cat_config.get("max_length", 0)) or None), 422
    try:
        seq, choice_index = int(request.form.get("seq", "")), int(choice)
    except ValueError:
        abort(400, description="the answer form was malformed")
    outcome = delivery.submit_answer(session_factory(), session_id, seq=seq, item_ref=request.form.get("item_id", ""),
                                     choice=choice_index, actor=f"candidate:{_candidate_id() or 'link'}")
    if outcome.finished:
        issue_if_earned(session_id)
        return redirect(url_for("learner.result", session_id=session_id))
    return redirect(url_for("learner.sit", session_id=session_id))


@bp.get("/sit/<session_id>/result")
def result(session_id: str):
    with unit_of_work() as db:
        _own_session(db, session_id)
        outcome = delivery.result(db, session_id)
    certificate = issue_if_earned(session_id) if outcome.decision == "pass" else None
    return render_template("result.html", result=outcome, certificate=certificate)


@bp.get("/my/certificates")
def my_certificates():
    me = _candidate_id()
    if me is None:
        return redirect(url_for("learner.index"))
    with unit_of_work() as db:
        rows = candidate_certificates(db, me)
        recert_exams = {e.id: e.recert_exam_id for e in db.execute(select(Exam)).scalars()}
    return render_template("certificates.html", certificates=rows, recert_exams=recert_exams)


@bp.get("/guides/<area>")
def guide(area: str):
    html = _guides_html().get(area)
    if html is None:
        abort(404, description="no study guide for that area")
    return render_template("guide.html", area=area, body=html)


@bp.get("/guides")
def guides():
    return render_template("guides.html", guides=sorted(_guides_html()))
