"""Which notices are due now, from where each enrolled person stands (organisations.status).

Run by `certamen jobs run-once` (and the worker) before delivery. Every notice has an idempotency key that
names the person, what it is about and the date or certificate it concerns, so running the planner again --
a minute or a week later, on two machines at once -- decides nothing twice (outbox.queue).

What is decided, per active person and required exam:

* ``result`` -- once per certificate, within `RESULT_DAYS` of its issue: passed, and the certificate's link;
* ``assignment`` -- once per due date: the exam is required, by when;
* ``reminder`` -- `REMINDER_DAYS` before the due date (the nearest offset whose time has come, so a planner
  that last ran a week ago sends one reminder, not two);
* ``overdue`` -- once per due date, after it;
* ``expiry`` -- `EXPIRY_DAYS` before a valid certificate's expiry, within the exam's renewal window;
* ``lapsed`` -- once per certificate, after it expired without renewal.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifications.mail import Mail
from notifications.notices import render
from notifications.outbox import queue
from organisations.status import ExamClock, PeopleFilter, rows_of
from storage import Exam, Organisation, as_utc
from storage.db import transaction
from storage.tenancy import scoped_to

RESULT_DAYS = 7  # a planner started long after a pass does not announce old certificates
REMINDER_DAYS = (7, 1)
EXPIRY_DAYS = (60, 30, 7)
OPEN = ("not_started", "in_progress", "failed")  # a requirement still to meet before its due date


@dataclass(frozen=True)
class Due:
    kind: str
    key: str
    days: int | None = None


def _nearest_open(offsets: tuple[int, ...], until: dt.timedelta) -> int | None:
    """The smallest offset whose time has come (`until` the date is at most that many days), if any."""
    opened = [days for days in offsets if until <= dt.timedelta(days=days)]
    return min(opened) if opened else None


def due_notices(row: dict[str, Any], now: dt.datetime, renewal_days: int) -> Iterator[Due]:
    """The notices one status row (organisations.status.rows_of) calls for at `now`."""
    person, exam, status = row["employee_id"], row["exam_id"], row["status"]
    if exam is None or not row["active"]:
        return
    due_at = row["due_at"]
    due = as_utc(due_at).date().isoformat() if due_at is not None else None
    if status in OPEN and due is not None:
        yield Due("assignment", f"assignment:{person}:{exam}:{due}")
        days = _nearest_open(REMINDER_DAYS, as_utc(due_at) - now)
        if days is not None and now < as_utc(due_at):
            yield Due("reminder", f"reminder:{person}:{exam}:{due}:{days}", days)
    elif status == "overdue" and due is not None:
        yield Due("overdue", f"overdue:{person}:{exam}:{due}")
    elif status in ("passed", "expiring") and row["valid_until"] is not None:
        certified = row["certified_at"]
        if certified is not None and now - as_utc(certified) <= dt.timedelta(days=RESULT_DAYS):
            yield Due("result", f"result:{person}:{row['certificate_id']}")
        offsets = tuple(days for days in EXPIRY_DAYS if days <= renewal_days) or (min(EXPIRY_DAYS),)
        days = _nearest_open(offsets, as_utc(row["valid_until"]) - now)
        if days is not None:
            yield Due("expiry", f"expiry:{person}:{exam}:{row['certificate_id']}:{days}", days)
    elif status == "lapsed":
        yield Due("lapsed", f"lapsed:{person}:{exam}:{row['certificate_id'] or 'none'}")


def plan(factory: sessionmaker[Session], *, now: dt.datetime, public_url: str, issuer: str) -> int:
    """Queues every notice due at `now`, one organisation (and transaction) at a time; how many were new."""
    with transaction(factory) as db:
        organisations = db.execute(select(Organisation.id, Organisation.name)).all()
        exams = {e.id: (e.title, e.recert_window_days) for e in db.execute(select(Exam)).scalars()}
    added = 0
    for organisation_id, organisation_name in organisations:
        with transaction(factory) as db, scoped_to(db, organisation_id):
            clock = ExamClock.at(db, now)
            for row in rows_of(db, clock, PeopleFilter()):
                title, renewal_days = exams.get(row["exam_id"], (row["exam_id"], 0))
                for notice in due_notices(row, now, renewal_days):
                    mail = _mail(notice, row, now=now, title=title, organisation=organisation_name,
                                 public_url=public_url, issuer=issuer)
                    added += queue(db, mail, kind=notice.kind, now=now, organisation_id=organisation_id)
    return added


SUBJECTS = {
    "result": "You passed {exam}: your certificate",
    "assignment": "Please pass {exam} by {due}",
    "reminder": "Reminder: {exam} is due on {due}",
    "overdue": "Overdue: {exam} was due on {due}",
    "expiry": "Your {exam} certificate expires on {valid_until}",
    "lapsed": "Your {exam} certificate has expired",
}


def _days_until(when: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole days from today to that date (the offset that made the notice due may be larger)."""
    return None if when is None else (as_utc(when).date() - now.date()).days


def _mail(notice: Due, row: dict[str, Any], *, now: dt.datetime, title: str, organisation: str, public_url: str,
          issuer: str) -> Mail:
    when = row["valid_until"] if notice.kind == "expiry" else row["due_at"]
    values = {
        "kind": notice.kind, "name": row["name"], "exam": title, "organisation": organisation, "issuer": issuer,
        "days": _days_until(when, now), "exam_url": f"{public_url}/",  # the home page lists and starts exams
        "certificate_url": f"{public_url}/verify/{row['certificate_id']}",
        "due": as_utc(row["due_at"]).date().isoformat() if row["due_at"] is not None else "",
        "valid_until": as_utc(row["valid_until"]).date().isoformat() if row["valid_until"] is not None else "",
    }
    text, html = render("requirement", **values)
    return Mail(to=row["email"], subject=SUBJECTS[notice.kind].format(**values), text=text, html=html, key=notice.key)
