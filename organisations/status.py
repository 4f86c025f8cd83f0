"""Where each enrolled person stands on each exam their organisation requires, computed by the database.

One SQL expression (`status_column`) classifies a person's requirement at an instant, so the people list,
the dashboard counts, the exports and the integration roster agree, and an organisation of 100,000 people
is counted by the database rather than row by row in Python. The certificate rules are those of
`certs.policy` (a policy change cuts a certificate's expiry short; the renewal window re-opens the
requirement); a test checks the two agree on every combination.

Statuses, first match wins:

* ``exempt`` -- excused, with a reason and who decided;
* ``passed`` -- holds a valid certificate, not yet inside its renewal window;
* ``expiring`` -- holds a valid certificate inside its renewal window: the requirement is open again;
* ``in_progress`` -- a sitting of the exam (or its recertification exam) is under way;
* ``withdrawn`` -- the current certificate is suspended or revoked;
* ``lapsed`` -- the current certificate has expired;
* ``overdue`` -- none of the above and the due date has passed;
* ``failed`` -- the last sitting since the requirement was given did not pass (a retake date follows the
  exam's waiting period);
* ``not_started`` -- nothing yet.

People with no requirement at all are listed with status ``none`` where every enrolled person is wanted
(the roster, the people list).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from errors import CertamenError, Kind
from storage import AssignedExam, Certificate, Employee, Exam, OrgUnit, PolicyChange, Sitting, as_utc

STATUSES = ("exempt", "passed", "expiring", "in_progress", "withdrawn", "lapsed", "overdue", "failed",
            "not_started")
NO_REQUIREMENT = "none"
LISTED = (*STATUSES, NO_REQUIREMENT)  # what a row of the people list can say
# Where the requirement is met: the certificate holds (or the person is excused).
MET = ("passed", "expiring", "exempt")


@dataclass(frozen=True)
class ExamClock:
    """The per-exam instants the status compares against, worked out in Python for the few exams there are,
    so the SQL needs no date arithmetic (which SQLite and PostgreSQL spell differently)."""

    now: dt.datetime
    renewal_opens_before: dict[str, dt.datetime]  # exam id -> now + its renewal window
    recert_exam: dict[str, str]  # exam id -> its recertification exam id
    retake_wait_days: dict[str, float]
    policy_deadlines: list[tuple[str, int, dt.datetime]]  # (exam id, minimum version, deadline), earliest first

    @classmethod
    def at(cls, db: Session, now: dt.datetime) -> ExamClock:
        from item_bank.integrity import IntegrityRules

        exams = db.execute(select(Exam.id, Exam.recert_window_days, Exam.recert_exam_id, Exam.integrity)).all()
        changes = db.execute(select(PolicyChange.exam_id, PolicyChange.min_exam_version, PolicyChange.deadline)
                             .order_by(PolicyChange.deadline)).all()
        return cls(
            now=now,
            renewal_opens_before={e.id: now + dt.timedelta(days=e.recert_window_days) for e in exams},
            recert_exam={e.id: e.recert_exam_id for e in exams if e.recert_exam_id},
            retake_wait_days={e.id: IntegrityRules.from_dict(e.integrity or {}).retake_wait_days for e in exams},
            policy_deadlines=[(c.exam_id, c.min_exam_version, as_utc(c.deadline)) for c in changes],
        )

    def retake_from(self, exam_id: str, failed_at: dt.datetime | None) -> dt.datetime | None:
        wait = self.retake_wait_days.get(exam_id) or 0
        if failed_at is None or not wait:
            return None
        return failed_at + dt.timedelta(days=wait)


def _by_exam(mapping: dict[str, object], column: ColumnElement[str], default: object) -> ColumnElement:
    if not mapping:
        return literal(default)
    return case(mapping, value=column, else_=literal(default))


def effective_expiry(cert: type[Certificate], clock: ExamClock) -> ColumnElement[dt.datetime]:
    """validUntil, or the earliest deadline of a policy change that applies to it (certs.policy.effective_expiry:
    certified under an older exam version, before the deadline). The few policy changes are constants here, the
    earliest first, so the first that applies is the minimum."""
    cases = [(and_(cert.exam_id == exam_id, cert.exam_version < min_version, cert.valid_from < deadline,
                   literal(deadline) < cert.valid_until), literal(deadline))
             for exam_id, min_version, deadline in clock.policy_deadlines]
    return case(*cases, else_=cert.valid_until) if cases else cert.valid_until


@dataclass(frozen=True)
class _Parts:
    cert: type[Certificate]  # the person's current certificate of the exam
    expiry: ColumnElement[dt.datetime]
    in_progress: ColumnElement[bool]
    last_decision: ColumnElement[str]
    last_finished_at: ColumnElement[dt.datetime]


_FAILED = ("fail", "abandoned")


def _decision() -> ColumnElement[str]:
    return func.coalesce(Sitting.decision, "abandoned")


def _last_attempt(candidate_id: ColumnElement[int], exam_id: ColumnElement[str],
                  assigned_at: ColumnElement[dt.datetime]) -> Select:
    """The required exam's latest finished sitting since it was required: a recertification sitting decides
    nothing here (whoever may take one holds a certificate, which the status reads first). One index probe:
    ix_exam_sessions_finished."""
    return (select(Sitting.decision, Sitting.finished_at)
            .where(Sitting.candidate_id == candidate_id, Sitting.exam_id == exam_id, Sitting.finished_at >= assigned_at,
                   Sitting.state != "in_progress")
            .order_by(Sitting.finished_at.desc()).limit(1).correlate_except(Sitting))


def _parts(clock: ExamClock) -> _Parts:
    cert = aliased(Certificate, name="current_cert")
    family = [AssignedExam.exam_id, _by_exam(dict(clock.recert_exam), AssignedExam.exam_id, "")]
    in_progress = exists().where(Sitting.candidate_id == Employee.candidate_id, Sitting.state == "in_progress",
                                 Sitting.exam_id.in_(family))
    last = _last_attempt(Employee.candidate_id, AssignedExam.exam_id, AssignedExam.assigned_at)
    return _Parts(
        cert=cert,
        expiry=effective_expiry(cert, clock),
        in_progress=in_progress,
        last_decision=last.with_only_columns(_decision()).scalar_subquery(),
        last_finished_at=last.with_only_columns(Sitting.finished_at).scalar_subquery(),
    )


def _joined(query: Select, cert: type[Certificate]) -> Select:
    """Every enrolled person, each exam required of them (or none), and their current certificate of it."""
    return (query.select_from(Employee)
            .outerjoin(AssignedExam, AssignedExam.employee_id == Employee.id)
            .outerjoin(cert, and_(cert.candidate_id == Employee.candidate_id, cert.exam_id == AssignedExam.exam_id,
                                  cert.is_current.is_(True))))


def _status(parts: _Parts, clock: ExamClock) -> ColumnElement[str]:
    cert, expiry, now = parts.cert, parts.expiry, clock.now
    valid = and_(cert.id.is_not(None), cert.revoked_at.is_(None), cert.suspended_at.is_(None), expiry > now)
    renewal_opens_before = _by_exam(dict(clock.renewal_opens_before), AssignedExam.exam_id, now)
    return case(
        (AssignedExam.id.is_(None), literal(NO_REQUIREMENT)),
        (AssignedExam.exempt_reason.is_not(None), literal("exempt")),
        (and_(valid, expiry <= renewal_opens_before), literal("expiring")),
        (valid, literal("passed")),
        (parts.in_progress, literal("in_progress")),
        (and_(cert.id.is_not(None), or_(cert.revoked_at.is_not(None), cert.suspended_at.is_not(None))),
         literal("withdrawn")),
        (cert.id.is_not(None), literal("lapsed")),
        (AssignedExam.due_at < now, literal("overdue")),
        (parts.last_decision.in_(_FAILED), literal("failed")),
        else_=literal("not_started"),
    )


class StatusFilterError(CertamenError):
    kind = Kind.MALFORMED


@dataclass(frozen=True)
class PeopleFilter:
    """What the people list, its exports and the roster show: all filters optional."""

    status: str | None = None
    exam_id: str | None = None
    department_id: int | None = None
    site_id: int | None = None
    search: str | None = None
    include_left: bool = False
    employee_id: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in LISTED:
            raise StatusFilterError(f"'status' must be one of {', '.join(LISTED)}")


def requirement_rows(clock: ExamClock, people: PeopleFilter = PeopleFilter()) -> Select:
    """One row per enrolled person and required exam (people with none: one row, status ``none``), with the
    columns the console and the exports show. The caller's session must be scoped to the organisation
    (storage.tenancy), which limits it to that organisation's people."""
    parts = _parts(clock)
    status_value = _status(parts, clock)
    status = status_value.label("status")
    # The last attempt matters where someone has yet to pass (its date gives the retake date); worked out
    # for those rows only, so reading a whole organisation does not look up everyone's last sitting.
    unpassed = status_value.in_(("failed", "overdue"))
    department = aliased(OrgUnit, name="department")
    site = aliased(OrgUnit, name="site")
    cert = parts.cert
    columns = (Employee.id.label("employee_id"), Employee.name, Employee.email, Employee.employee_number,
               Employee.active, Employee.manager_email, department.name.label("department"), site.name.label("site"),
               AssignedExam.exam_id, AssignedExam.due_at, AssignedExam.assigned_at, AssignedExam.exempt_reason,
               AssignedExam.exempt_by, status, cert.id.label("certificate_id"), cert.issued_at.label("certified_at"),
               parts.expiry.label("valid_until"),
               case((unpassed, parts.last_finished_at), else_=None).label("last_sitting_at"),
               case((unpassed, parts.last_decision), else_=None).label("last_result"))
    query = (_joined(select(*columns), cert)
             .outerjoin(department, department.id == Employee.department_id)
             .outerjoin(site, site.id == Employee.site_id))
    query = _filtered(query, people)
    if people.status:
        query = query.where(status == people.status)
    return query


def _filtered(query: Select, people: PeopleFilter) -> Select:
    if not people.include_left:
        query = query.where(Employee.active.is_(True))
    if people.employee_id is not None:
        query = query.where(Employee.id == people.employee_id)
    if people.exam_id:
        query = query.where(AssignedExam.exam_id == people.exam_id)
    if people.department_id:
        query = query.where(Employee.department_id == people.department_id)
    if people.site_id:
        query = query.where(Employee.site_id == people.site_id)
    if people.search and people.search.strip():
        needle = "%" + people.search.strip().lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(or_(func.lower(Employee.name).like(needle, escape="\\"),
                                Employee.email.like(needle, escape="\\"),
                                func.lower(Employee.employee_number).like(needle, escape="\\")))
    return query


def summary(db: Session, clock: ExamClock, people: PeopleFilter = PeopleFilter(), *,
            expiring_days: int = 30) -> tuple[dict[str, int], int]:
    """How many requirements are in each status (people with none under ``none``), and how many valid
    certificates of required exams expire within `expiring_days` (whatever the exam's renewal window), in one
    pass over the organisation.

    Shaped so PostgreSQL can spread the pass over several workers: a correlated subquery would keep it on one.
    The inner query tells every status but ``failed`` from plain joins (the sitting in progress joined on the
    person: there is at most one); the outer one looks up the last attempt only for the few rows left
    ``not_started``, the one status that the last attempt can turn into ``failed``."""
    cert = aliased(Certificate, name="current_cert")
    ongoing = aliased(Sitting, name="ongoing")
    family = [AssignedExam.exam_id, _by_exam(dict(clock.recert_exam), AssignedExam.exam_id, "")]
    expiry = effective_expiry(cert, clock)
    parts = _Parts(cert=cert, expiry=expiry, in_progress=ongoing.exam_id.in_(family),
                   last_decision=literal("undecided"), last_finished_at=literal(None))
    inner = _joined(select(Employee.candidate_id, AssignedExam.exam_id, AssignedExam.assigned_at,
                           _status(parts, clock).label("status"), expiry.label("valid_until")), cert)
    inner = _filtered(inner.outerjoin(ongoing, and_(ongoing.candidate_id == Employee.candidate_id,
                                                    ongoing.state == "in_progress")), people)
    rows = inner.offset(0).subquery()  # OFFSET 0: planned on its own, the correlated lookup stays outside
    last = _last_attempt(rows.c.candidate_id, rows.c.exam_id, rows.c.assigned_at)
    status = case((and_(rows.c.status == "not_started", last.with_only_columns(_decision()).scalar_subquery()
                        .in_(_FAILED)), literal("failed")), else_=rows.c.status).label("status")
    classified = select(status, rows.c.valid_until)
    if people.status:
        classified = classified.where(status == people.status)
    final = classified.offset(0).subquery()
    horizon = clock.now + dt.timedelta(days=expiring_days)
    totals = db.execute(select(
        *(func.count().filter(final.c.status == name) for name in LISTED),
        func.count().filter(final.c.status.in_(("passed", "expiring")), final.c.valid_until <= horizon),
    )).one()
    return dict(zip(LISTED, totals[:-1], strict=True)), totals[-1]


def status_counts(db: Session, clock: ExamClock, people: PeopleFilter = PeopleFilter()) -> dict[str, int]:
    return summary(db, clock, people)[0]


def page_of(db: Session, clock: ExamClock, people: PeopleFilter, *, after: tuple[str, int, str] | None = None,
            size: int = 50) -> list[dict[str, Any]]:
    """One page of the people list in name order; `after` is the (name, employee id, exam id) of the last row
    of the previous page (keyset paging: page 2,000 costs what page 1 does)."""
    query = requirement_rows(clock, people)
    if after is not None:
        name, employee_id, exam_id = after
        query = query.where(Employee.name >= name, or_(Employee.name > name,
                                and_(Employee.name == name, Employee.id > employee_id),
                                and_(Employee.name == name, Employee.id == employee_id,
                                     func.coalesce(AssignedExam.exam_id, "") > exam_id)))
    query = query.order_by(Employee.name, Employee.id, AssignedExam.exam_id).limit(size)
    return [with_retake(clock, dict(row._mapping)) for row in db.execute(query)]


class CursorError(CertamenError):
    kind = Kind.MALFORMED


def _position(row: dict[str, Any]) -> tuple[str, int, str]:
    """Where a row stands in name order: `page_of`'s `after`."""
    return row["name"], row["employee_id"], row["exam_id"] or ""


def cursor_after(row: dict[str, Any]) -> str:
    """An opaque token for "the rows after this one" (a page's last row), for the next page's link."""
    raw = json.dumps(list(_position(row)), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_cursor(value: str | None) -> tuple[str, int, str] | None:
    """`page_of`'s `after` from a token `cursor_after` made; None for none."""
    if not value:
        return None
    try:
        name, employee_id, exam_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if isinstance(name, str) and isinstance(employee_id, int) and isinstance(exam_id, str):
            return name, employee_id, exam_id
    except (ValueError, TypeError):
        pass
    raise CursorError("that page link is not one this list gave out; start again from the first page")


_TIMES = ("due_at", "assigned_at", "certified_at", "valid_until", "last_sitting_at")


def with_retake(clock: ExamClock, row: dict[str, Any]) -> dict[str, Any]:
    """Times in UTC (SQLite returns them naive), and when a person who failed may sit again (the exam's retake
    waiting period)."""
    for key in _TIMES:
        value = row.get(key)
        if value is not None and value.tzinfo is None:
            row[key] = as_utc(value)
    last = row.get("last_sitting_at")
    row["retake_from"] = (clock.retake_from(str(row["exam_id"]), last if isinstance(last, dt.datetime) else None)
                          if row.get("status") in ("failed", "overdue") and row.get("last_result") != "pass" else None)
    return row


def rows_of(db: Session, clock: ExamClock, people: PeopleFilter, *, batch: int = 5000) -> Iterable[dict[str, Any]]:
    """Every row, in name order, read a batch at a time by keyset (exports keep the memory of one batch; each
    batch is an ordinary query, which the database may run in parallel, unlike a server-side cursor's)."""
    after = None
    while True:
        rows = page_of(db, clock, people, after=after, size=batch)
        yield from rows
        if len(rows) < batch:
            return
        after = _position(rows[-1])
