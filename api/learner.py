"""Learner web pages: register or sign in, sit an exam one item per page, resume, see the result."""
from __future__ import annotations

import time
from functools import lru_cache

import markdown
from flask import Blueprint, abort, make_response, redirect, render_template, request, session, url_for
from sqlalchemy import select

from api import limits
from api.auth import SESSION_KEY, check_csrf, csrf_token, current_learner, learner_token
from api.errors import http_status
from api.services import (
    change_password,
    issue_after_last_answer,
    issue_if_earned,
    register_learner,
    session_factory,
    sign_in,
    start_sitting,
    unit_of_work,
)
from certs.service import candidate_certificates
from item_bank import accounts, delivery
from item_bank.content import area_titles, load_guides
from organisations import invitations
from storage import Candidate, Exam, Sitting

bp = Blueprint("learner", __name__)

PASSWORD_AFTER_LINK_SECONDS = 3600


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


def _signed_in_learner() -> int:
    me = current_learner()
    if me is None:
        abort(redirect(url_for("learner.signin_page")))
    return me


def _own_session(db, session_id: str) -> Sitting:
    """Only the signed-in learner who sat it may see a sitting; to anyone else it does not exist."""
    return delivery.get_sitting(db, session_id, candidate_id=_signed_in_learner())


def _remember(signed_in: accounts.SignedIn) -> None:
    """A fresh cookie session (no fixation) holding a web session id: random, its digest stored and
    revocable on the server like a token, but accepted only from this cookie, never as a bearer
    token (api.auth.learner_token). The cookie is signed, not encrypted: what it holds must be
    worthless anywhere but here, and it is."""
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = signed_in.token


def _refused(template: str, exc: accounts.AccountError, **context):
    response = make_response(render_template(template, error=exc.message, **context), http_status(exc))
    if exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.get("/")
def index():
    me = current_learner()
    with unit_of_work() as db:
        exams = db.execute(select(Exam).where(Exam.is_active.is_(True)).order_by(Exam.kind, Exam.title)).scalars().all()
        candidate = db.get(Candidate, me) if me else None
        sittings = []
        if candidate:
            sittings = db.execute(
                select(Sitting)
                .where(Sitting.candidate_id == candidate.id)
                .order_by(Sitting.started_at.desc())
            ).scalars().all()
        running = {s.exam_id: s.id for s in sittings if s.state == "in_progress"}
        return render_template("index.html", exams=exams, candidate=candidate, sittings=sittings, running=running)


@bp.get("/register")
def register_page():
    return render_template("register.html")


@bp.post("/register")
@limits.register
def register():
    """The same answer whether or not the address had an account (accounts.register): on to the
    sign-in page, the address filled in."""
    form = request.form
    try:
        register_learner(name=form.get("name", ""), email=form.get("email", ""),
                         password=form.get("password", ""))
    except accounts.AccountError as exc:
        return render_template("register.html", error=exc.message, form=form), http_status(exc)
    session["registered_email"] = form.get("email", "").strip()[:320]
    return redirect(url_for("learner.signin_page"), 303)


@bp.get("/signin")
def signin_page():
    registered = session.pop("registered_email", None)
    return render_template("signin.html", email=registered, registered=registered is not None)


@bp.post("/signin")
@limits.signin
def signin():
    email = request.form.get("email", "")
    try:
        _remember(sign_in(email=email, password=request.form.get("password", ""), label="web",
                          address=limits.remote_address(), web=True))
    except accounts.AccountError as exc:
        return _refused("signin.html", exc, email=email)
    return redirect(url_for("learner.index"))


@bp.get("/signin/link")
def signin_link_page():
    """The page a sign-in link opens. The link's secret is in the URL fragment (accounts.SecretLink),
    which the browser keeps to itself; signin_link.js copies it into the form. The page signs no one
    in on GET, so mail scanners that follow links don't use the link up."""
    return render_template("signin_link.html")


@bp.post("/signin/link")
@limits.signin
def signin_link():
    with unit_of_work() as db:
        candidate = accounts.redeem_signin_link(db, request.form.get("token", "").strip())
        _remember(accounts.start_session(db, candidate, label="sign-in link", web=True))
    session["may_set_password_until"] = time.time() + PASSWORD_AFTER_LINK_SECONDS
    return redirect(url_for("learner.password_page"))


def _may_set_password_without_current() -> bool:
    """Right after a sign-in link, for a while: the link stood in for the password."""
    until = session.get("may_set_password_until")
    return isinstance(until, (int, float)) and until > time.time()


@bp.get("/account/password")
def password_page():
    if current_learner() is None:
        return redirect(url_for("learner.signin_page"))
    return render_template("password.html", need_current=not _may_set_password_without_current())


@bp.post("/account/password")
@limits.signin
def set_password():
    me = current_learner()
    if me is None:
        return redirect(url_for("learner.signin_page"))
    need_current = not _may_set_password_without_current()
    try:
        # Every other session of the account ends; this browser gets a fresh one.
        _remember(change_password(me, current=request.form.get("current_password", "") if need_current else None,
                                  new=request.form.get("password", ""), address=limits.remote_address()))
    except accounts.AccountError as exc:
        return _refused("password.html", exc, need_current=need_current)
    return redirect(url_for("learner.index"))


@bp.post("/signout")
def signout():
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        with unit_of_work() as db:
            accounts.end_session(db, token)
    session.clear()
    return redirect(url_for("learner.index"))


@bp.post("/exams/<exam_id>/start")
def start(exam_id: str):
    me = current_learner()
    if me is None:
        return redirect(url_for("learner.signin_page"))
    return redirect(url_for("learner.sit", session_id=start_sitting(exam_id, candidate_id=me).session_id))


@bp.get("/sit/<session_id>")
def sit(session_id: str):
    with unit_of_work() as db:
        row = _own_session(db, session_id)
        item = delivery.current_item(db, session_id)  # closes the sitting if its time is up
        if row.state == "completed":
            return redirect(url_for("learner.result", session_id=row.id))
        if item is None:
            abort(409, description="this exam is no longer in progress")
        return _item_page(row, item)


def _item_page(row: Sitting, item: delivery.PresentedItem, error: str | None = None):
    return render_template("item.html", item=item, exam=row.exam, error=error,
                           max_length=int(row.cat_config.get("max_length", 0)) or None,
                           seconds_left=delivery.seconds_left(row))


@bp.post("/sit/<session_id>/answer")
@limits.answers
def answer(session_id: str):
    choice = request.form.get("choice")
    if choice is None:
        with unit_of_work() as db:
            row = _own_session(db, session_id)
            item = delivery.current_item(db, session_id)
            if item is None:
                return redirect(url_for("learner.sit", session_id=session_id))
            return _item_page(row, item, error="Choose one answer before you continue."), 422
    token = learner_token()  # checked while answering, in the statement that reads the sitting
    if token is None:
        return redirect(url_for("learner.signin_page"))
    try:
        seq, choice_index = int(request.form.get("seq", "")), int(choice)
    except ValueError:
        abort(400, description="the answer form was malformed")
    try:
        outcome = delivery.submit_answer(session_factory(), session_id, seq=seq,
                                         item_ref=request.form.get("item_id", ""), choice=choice_index,
                                         learner_token=token)
    except delivery.NotSignedIn:
        return redirect(url_for("learner.signin_page"))
    if outcome.finished:
        if outcome.decision == "pass":
            issue_after_last_answer(session_id)
        return redirect(url_for("learner.result", session_id=session_id))
    return redirect(url_for("learner.sit", session_id=session_id))


@bp.get("/sit/<session_id>/result")
def result(session_id: str):
    with unit_of_work() as db:
        outcome = delivery.result(db, session_id, candidate_id=_signed_in_learner())
    certificate = issue_if_earned(session_id) if outcome.decision == "pass" else None
    return render_template("result.html", result=outcome, certificate=certificate)


@bp.get("/join")
def join_page():
    """An organisation's invitation: the secret is in the URL fragment; signin_link.js puts it in the form."""
    return render_template("join.html", signed_in=current_learner() is not None)


@bp.post("/join")
@limits.signin
def join():
    token = request.form.get("token", "").strip()
    me = current_learner()
    if me is None:
        return render_template("join.html", signed_in=False,
                               error="sign in (or create an account) first, then open your invitation link again"), 401
    try:
        with unit_of_work() as db:
            org, new = invitations.join(db, token, me)
            name = org.name
    except invitations.InvitationError as exc:
        return render_template("join.html", signed_in=True, error=exc.message), http_status(exc)
    return render_template("join.html", signed_in=True, joined=name, new=new)


@bp.get("/my/certificates")
def my_certificates():
    me = current_learner()
    if me is None:
        return redirect(url_for("learner.signin_page"))
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


@bp.get("/exams/<exam_id>")
def exam_page(exam_id: str):
    """What an exam certifies and its rules: the page a certificate names as its achievement and scheme, so a
    verifier following that link reads what was certified. Public; nothing of the items or the standard's
    number."""
    with unit_of_work() as db:
        exam = db.get(Exam, exam_id[:80])
        if exam is None:
            abort(404, description="no such exam")
        recert = db.get(Exam, exam.recert_exam_id) if exam.recert_exam_id else None
        return render_template("exam.html", exam=exam, info=exam.certificate_info or {},
                               areas=[(slug, area_titles().get(slug, slug)) for slug in exam.areas],
                               guides=set(_guides_html()), recert=recert)


@bp.get("/guides")
def guides():
    return render_template("guides.html", guides=sorted(_guides_html()))
