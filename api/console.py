"""The employer's console (HR, compliance officers, managers, org admins): sign-in, dashboard, people,
one person's page, exports and certificate actions. Thin views: what they show comes from organisations/,
and every query of an organisation's data runs in a session scoped to it (storage.tenancy), so another
organisation's person, sitting or certificate is "not found" whatever id a URL carries."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy.orm import Session

from api import limits
from api.auth import STAFF_SESSION_KEY, check_csrf, current_staff
from api.services import issuer, resend_certificate, staff_sign_in, unit_of_work
from certs.service import change_status
from item_bank.content import area_titles
from organisations import dashboard as dashboards
from organisations import staff
from organisations.assignments import set_exemption
from organisations.enrolment import enrol
from organisations.exports import csv_stream, xlsx_file
from organisations.invitations import invite
from organisations.risk_map import MAX_SE, risk_map
from organisations.roster_csv import MAX_BYTES as MAX_ROSTER_BYTES
from organisations.roster_csv import RosterFileError
from organisations.staff import Viewer
from organisations.status import (
    NO_REQUIREMENT,
    ExamClock,
    PeopleFilter,
    cursor_after,
    page_of,
    read_cursor,
    rows_of,
)
from storage import Certificate, Organisation, utcnow
from storage.tenancy import scoped_to

bp = Blueprint("console", __name__, url_prefix="/console")

PAGE_SIZE = 50
STATUS_LABELS = {"exempt": "Exempt", "passed": "Certified", "expiring": "Renewal due", "in_progress": "In progress",
                 "withdrawn": "Certificate withdrawn", "lapsed": "Lapsed", "overdue": "Overdue", "failed": "Failed",
                 "not_started": "Not started", NO_REQUIREMENT: "Nothing assigned"}
STATUS_ORDER = ["passed", "expiring", "exempt", "in_progress", "not_started", "failed", "overdue", "lapsed",
                "withdrawn"]
ROLE_LABELS = {"org_admin": "Organisation admin", "hr": "HR / compliance", "manager": "Manager"}


@bp.url_value_preprocessor
def _roster_may_be_large(endpoint: str | None, _values: dict | None) -> None:
    """A roster file is larger than any other form may be. Set here because this runs before every
    before_request hook, and those read the form (and would refuse it at the app's general limit)."""
    if endpoint == "console.roster_upload":
        request.max_content_length = MAX_ROSTER_BYTES + 64 * 1024


@bp.before_request
def _protect_forms():
    if request.method == "POST":
        check_csrf()


@bp.app_context_processor
def _console_globals():
    return {"status_labels": STATUS_LABELS, "role_labels": ROLE_LABELS, "status_order": STATUS_ORDER}


def _viewer() -> Viewer:
    viewer = current_staff()
    if viewer is None:
        abort(redirect(url_for("console.signin_page", next=request.full_path if request.method == "GET" else None)))
    return viewer


@contextmanager
def _organisation(slug: str) -> Iterator[tuple[Session, Organisation, Viewer]]:
    """The organisation the viewer asked for, and a session that sees its data only (a manager: their reports)."""
    viewer = _viewer()
    with unit_of_work() as db:
        org = staff.visible_organisation(db, viewer, slug)
        with scoped_to(db, org.id, reports_of=viewer.reports_only(org.id)):
            yield db, org, viewer


def _filters() -> PeopleFilter:
    def number(name: str) -> int | None:
        value = request.args.get(name, "")
        return int(value) if value.isdigit() and len(value) < 10 else None

    return PeopleFilter(status=request.args.get("status") or None, exam_id=request.args.get("exam") or None,
                        department_id=number("department"), site_id=number("site"),
                        search=(request.args.get("q") or "")[:100] or None,
                        include_left=request.args.get("left") == "1")


def _safe_next(target: str | None) -> str:
    """Only a path of this console: never another site (an open redirect)."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.home")


# ------------------------------------------------------------------ signing in


@bp.get("/signin")
def signin_page():
    return render_template("console/signin.html", next=request.args.get("next", ""))


@bp.post("/signin")
@limits.signin
def signin():
    email = request.form.get("email", "")
    try:
        token = staff_sign_in(email=email, password=request.form.get("password", ""),
                              address=request.remote_addr or "")
    except staff.StaffError as exc:
        return render_template("console/signin.html", error=exc.message, email=email,
                               next=request.form.get("next", "")), 401
    _remember(token)
    return redirect(_safe_next(request.form.get("next")), 303)


def _remember(token: str) -> None:
    """A fresh cookie session (no fixation) holding the console session id, which only the server can end."""
    session.clear()
    session[STAFF_SESSION_KEY] = token


@bp.get("/signin/link")
def signin_link_page():
    """The link's secret is in the URL fragment, which the browser keeps to itself; signin_link.js puts it
    in the form."""
    return render_template("console/signin_link.html")


@bp.post("/signin/link")
@limits.signin
def signin_link():
    with unit_of_work() as db:
        try:
            account = staff.redeem_link(db, request.form.get("token", "").strip())
        except staff.StaffError as exc:
            return render_template("console/signin_link.html", error=exc.message), 400
        token = staff.start_session(db, account)
    _remember(token)
    return redirect(url_for("console.password_page"), 303)


@bp.get("/password")
def password_page():
    _viewer()
    return render_template("console/password.html")


@bp.post("/password")
def password():
    viewer = _viewer()
    with unit_of_work() as db:
        account = staff.account_of(db, viewer)
        try:
            staff.set_password(db, account, request.form.get("password", ""))
        except staff.StaffError as exc:
            return render_template("console/password.html", error=exc.message), 400
        token = staff.start_session(db, account)
    _remember(token)
    return redirect(url_for("console.home"), 303)


@bp.post("/signout")
def signout():
    token = session.get(STAFF_SESSION_KEY)
    if isinstance(token, str):
        with unit_of_work() as db:
            staff.end_session(db, token)
    session.clear()
    return redirect(url_for("console.signin_page"), 303)


# ------------------------------------------------------------------ the organisation's pages


@bp.get("/")
def home():
    viewer = _viewer()
    with unit_of_work() as db:
        organisations = [(o.slug, o.name, viewer.role_in(o.id)) for o in staff.organisations_of(db, viewer)]
    if len(organisations) == 1:
        return redirect(url_for("console.dashboard", slug=organisations[0][0]))
    return render_template("console/home.html", organisations=organisations)


@bp.get("/<slug>/")
def dashboard(slug: str):
    expiring_days = request.args.get("expiring", 30, type=int)
    if expiring_days is None or not 1 <= expiring_days <= 365:
        abort(400, description="'expiring' must be a number of days from 1 to 365")
    with _organisation(slug) as (db, org, viewer):
        people = _filters()
        board = dashboards.dashboard(db, ExamClock.at(db, utcnow()), replace(people, status=None, search=None),
                                     expiring_days=expiring_days)
        return render_template("console/dashboard.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                               board=board, units=dashboards.units(db), people=people,
                               mail_configured=bool(current_app.extensions["settings"].smtp_url))


@bp.get("/<slug>/risks")
def risks(slug: str):
    """The risk map: how the workforce (or a department or site) stands in each risk area."""
    with _organisation(slug) as (db, org, viewer):
        people = _filters()
        standings = risk_map(db, list(area_titles()), now=utcnow(), department_id=people.department_id,
                             site_id=people.site_id)
        return render_template("console/risks.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                               standings=standings, units=dashboards.units(db), people=people, max_se=MAX_SE)


@bp.get("/<slug>/people")
def people(slug: str):
    with _organisation(slug) as (db, org, viewer):
        people = _filters()
        after = read_cursor(request.args.get("after"))
        rows = page_of(db, ExamClock.at(db, utcnow()), people, after=after, size=PAGE_SIZE + 1)
        exams = dashboards.required_exams(db)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_args = {**request.args.to_dict(), "after": cursor_after(rows[-1])} if more else None
        return render_template("console/people.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                               rows=rows, people=people, units=dashboards.units(db), exams=exams,
                               exam_titles=dict(exams),
                               next_args=next_args, paged=after is not None, query=request.args.to_dict())


@bp.get("/<slug>/people.csv")
def people_csv(slug: str):
    viewer = _viewer()
    with unit_of_work() as db:
        org = staff.visible_organisation(db, viewer, slug)
        org_id, org_slug, reports_of = org.id, org.slug, viewer.reports_only(org.id)
        people = _filters()

    def body() -> Iterator[str]:
        with unit_of_work() as db, scoped_to(db, org_id, reports_of=reports_of):
            yield from csv_stream(db, ExamClock.at(db, utcnow()), people)

    return Response(stream_with_context(body()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{org_slug}-people-{dt.date.today().isoformat()}.csv"'})


@bp.get("/<slug>/people.xlsx")
def people_xlsx(slug: str):
    with _organisation(slug) as (db, org, _viewer_):
        workbook = xlsx_file(rows_of(db, ExamClock.at(db, utcnow()), _filters()), title=org.name)
        name = f"{org.slug}-people-{dt.date.today().isoformat()}.xlsx"
    return send_file(workbook, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     as_attachment=True, download_name=name)


@bp.get("/<slug>/people/<int:employee_id>")
def person(slug: str, employee_id: int):
    with _organisation(slug) as (db, org, viewer):
        found = dashboards.person(db, employee_id, ExamClock.at(db, utcnow()))
        if found is None:
            abort(404, description="no such person in this organisation")
        return render_template("console/person.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                               may_act=viewer.may_act_on_certificates(org.id),
                               exam_titles=dashboards.exam_titles(db), **found)


@bp.post("/<slug>/people/<int:employee_id>/exemption")
def exemption(slug: str, employee_id: int):
    with _organisation(slug) as (db, org, viewer):
        _require_action_role(viewer, org)
        reason = request.form.get("reason") if request.form.get("action") == "exempt" else None
        if request.form.get("action") == "exempt" and not (reason or "").strip():
            abort(400, description="say why this person is exempt")
        set_exemption(db, employee_id, request.form.get("exam", ""), reason=reason, actor=viewer.actor)
    return redirect(url_for("console.person", slug=slug, employee_id=employee_id), 303)


@bp.post("/<slug>/roster")
def roster_upload(slug: str):
    """Enrols people from a roster file (all or nothing; every problem named by its line)."""
    with _organisation(slug) as (db, org, viewer):
        _require_action_role(viewer, org)
        upload = request.files.get("roster")
        if upload is None or not upload.filename:
            abort(400, description="choose the roster file (CSV) to upload")
        try:
            report = enrol(db, org, upload.read(MAX_ROSTER_BYTES + 1), actor=viewer.actor,
                           deactivate_missing=request.form.get("deactivate_missing") == "1")
        except RosterFileError as exc:
            db.rollback()
            return render_template("console/roster.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                                   problems=exc.problems, total=exc.total), 422
        return render_template("console/roster.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                               report=report.as_dict())


@bp.post("/<slug>/invitations")
def invitation(slug: str):
    """A new invitation link for the organisation's people, shown once."""
    with _organisation(slug) as (db, org, viewer):
        _require_action_role(viewer, org)
        link = invite(db, org, actor=viewer.actor, days=request.form.get("days", 30, type=int) or 30,
                      email_domain=request.form.get("domain") or None)
        return render_template("console/invitation.html", org=org, viewer=viewer, role=viewer.role_in(org.id),
                               link=link.url(issuer().public_url), expires=link.expires_at,
                               domain=request.form.get("domain") or None)


@bp.post("/<slug>/certificates/<cert_id>/status")
def certificate_status(slug: str, cert_id: str):
    """Suspend, reinstate or revoke a certificate of one of the organisation's people (audited as the staff
    member who did it)."""
    with _organisation(slug) as (db, org, viewer):
        cert = db.get(Certificate, cert_id[:40])
        if cert is None:
            abort(404, description="no such certificate in this organisation")
        _require_action_role(viewer, org)
        change_status(db, cert.id, request.form.get("action", ""), reason=request.form.get("reason", ""),
                      actor=viewer.actor)
        employee_id = request.form.get("employee", type=int)
    if employee_id:
        return redirect(url_for("console.person", slug=slug, employee_id=employee_id), 303)
    return redirect(url_for("console.people", slug=slug), 303)


@bp.post("/<slug>/certificates/<cert_id>/resend")
def certificate_resend(slug: str, cert_id: str):
    """Mail a valid certificate's links to its holder again (audited as the staff member who sent it)."""
    with _organisation(slug) as (db, org, viewer):
        cert = db.get(Certificate, cert_id[:40])
        if cert is None:
            abort(404, description="no such certificate in this organisation")
        _require_action_role(viewer, org)
        to = resend_certificate(db, cert, actor=viewer.actor, sender=f"{viewer.email} ({org.name})")
        employee_id = request.form.get("employee", type=int)
    flash(f"Certificate {cert.id} sent to {to}.")
    if employee_id:
        return redirect(url_for("console.person", slug=slug, employee_id=employee_id), 303)
    return redirect(url_for("console.people", slug=slug), 303)


def _require_action_role(viewer: Viewer, org: Organisation) -> None:
    if not viewer.may_act_on_certificates(org.id):
        abort(403, description="only HR and organisation admins act on certificates and exemptions")

