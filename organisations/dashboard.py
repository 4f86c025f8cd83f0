"""What the console's dashboard and person page show, from organisations.status and the sittings.

Every query here runs in a session scoped to one organisation (storage.tenancy), so it counts that
organisation's people only (a manager's reports only, for a manager)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from certs.service import certificate_row
from organisations.status import MET, NO_REQUIREMENT, ExamClock, PeopleFilter, rows_of, summary
from storage import Certificate, Employee, Exam, OrgUnit, Sitting, as_utc

TREND_MONTHS = 12


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    required: int  # requirements (people x required exams), exempt included
    met: int  # passed, expiring (still valid) or exempt
    expiring_soon: int  # valid certificates expiring within `expiring_days`
    expiring_days: int
    finished: int  # sittings finished in the last 12 months
    passed: int
    trend: list[dict[str, Any]]  # per month: sittings finished, passed (each pass is certified)

    @property
    def completion_rate(self) -> float | None:
        return self.met / self.required if self.required else None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.finished if self.finished else None


def _month_start(month: str) -> dt.datetime:
    return dt.datetime(int(month[:4]), int(month[5:]), 1, tzinfo=dt.UTC)


def _month(db: Session, column: ColumnElement[dt.datetime], months: list[str]) -> ColumnElement[Any]:
    """Which of `months` a time falls in (UTC): on PostgreSQL its number among them, 1 for the first (width_bucket
    over the months' first instants: half the cost of truncating 200,000 timestamps); 'YYYY-MM' on SQLite."""
    if db.get_bind().dialect.name == "postgresql":
        starts = postgresql.array([_month_start(m) for m in months], type_=DateTime(timezone=True))
        return func.width_bucket(column, starts)
    return func.strftime("%Y-%m", column)


def _months_back(now: dt.datetime, months: int) -> list[str]:
    year, month = now.year, now.month
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def dashboard(db: Session, clock: ExamClock, people: PeopleFilter, *, expiring_days: int = 30) -> Dashboard:
    """The status pass, then the monthly trend, in `db` (scoped to the organisation). One after the other: the
    status pass already spreads over PostgreSQL's parallel workers, and running the trend beside it on another
    connection only made them queue for the same cores (measured: a longer tail, docs/benchmarks.md)."""
    counts, expiring_soon = summary(db, clock, people, expiring_days=expiring_days)
    trend = monthly_trend(db, clock, people)
    required = sum(n for status, n in counts.items() if status != NO_REQUIREMENT)
    return Dashboard(counts=counts, required=required, met=sum(counts[s] for s in MET),
                     expiring_soon=expiring_soon, expiring_days=expiring_days,
                     finished=sum(m["finished"] for m in trend), passed=sum(m["passed"] for m in trend), trend=trend)


def monthly_trend(db: Session, clock: ExamClock, people: PeopleFilter) -> list[dict[str, Any]]:
    """Sittings finished and passed in each of the last 12 months (a pass is certified)."""
    months = _months_back(clock.now, TREND_MONTHS)
    since = _month_start(months[0])
    sittings = (select(_month(db, Sitting.finished_at, months).label("month"), func.count().label("finished"),
                       func.count().filter(Sitting.decision == "pass").label("passed"))
                .where(Sitting.state == "completed", Sitting.finished_at >= since)
                .group_by("month"))
    if people.department_id or people.site_id:  # the session's scope already limits it to the organisation
        sittings = sittings.where(Sitting.candidate_id.in_(_people_in_scope(people)))
    by_month = {m: {"month": m, "finished": 0, "passed": 0} for m in months}
    for row in db.execute(sittings):
        month = months[row.month - 1] if isinstance(row.month, int) else row.month
        if month in by_month:
            by_month[month].update(finished=row.finished, passed=row.passed)
    return list(by_month.values())


def _people_in_scope(people: PeopleFilter) -> Any:
    """The learner accounts of the people the filter's department or site covers (all, without one)."""
    query = select(Employee.candidate_id)
    if people.department_id:
        query = query.where(Employee.department_id == people.department_id)
    if people.site_id:
        query = query.where(Employee.site_id == people.site_id)
    return query


def units(db: Session) -> dict[str, list[tuple[int, str]]]:
    """The organisation's departments and sites, by name, for the filters."""
    out: dict[str, list[tuple[int, str]]] = {"department": [], "site": []}
    for unit in db.execute(select(OrgUnit).order_by(OrgUnit.name)).scalars():
        out.setdefault(unit.kind, []).append((unit.id, unit.name))
    return out


def required_exams(db: Session) -> list[tuple[str, str]]:
    """The exams an organisation can require (full exams; recertification renews them), by title."""
    return [(e.id, e.title) for e in db.execute(select(Exam).where(Exam.kind == "full").order_by(Exam.title)).scalars()]


def exam_titles(db: Session) -> dict[str, str]:
    return dict(db.execute(select(Exam.id, Exam.title)).all())


def person(db: Session, employee_id: int, clock: ExamClock) -> dict[str, Any] | None:
    """One enrolled person: their requirements, sittings (with results by area) and certificates."""
    employee = db.get(Employee, employee_id)
    if employee is None:
        return None
    requirements = [row for row in rows_of(db, clock, PeopleFilter(employee_id=employee_id, include_left=True))
                    if row["exam_id"] is not None]
    sittings = [{
        "exam_id": s.exam_id, "state": s.state, "decision": s.decision,
        "started": as_utc(s.started_at), "finished": as_utc(s.finished_at) if s.finished_at else None,
        "areas": s.area_feedback or [],
    } for s in db.execute(select(Sitting).where(Sitting.candidate_id == employee.candidate_id)
                          .order_by(Sitting.started_at.desc()).limit(50)).scalars()]
    certificates = [certificate_row(db, cert, now=clock.now) | {"superseded_by": cert.superseded_by}
                    for cert in db.execute(select(Certificate).where(Certificate.candidate_id == employee.candidate_id)
                                           .order_by(Certificate.issued_at.desc())).scalars()]
    return {"employee": employee, "requirements": requirements, "sittings": sittings, "certificates": certificates}
