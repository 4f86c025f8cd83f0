"""Reminders follow where each person stands, as the clock moves: the assignment and the 7-day reminder, then
the 1-day one, then overdue; a certificate's 60/30/7-day expiry warnings and the lapse -- each once, against a
real SMTP server on loopback."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from programme import certificate
from smtp_server import smtp_server
from sqlalchemy import select

from notifications.mail import SmtpMailer
from notifications.outbox import deliver
from notifications.planner import due_notices, plan
from organisations.assignments import assign
from organisations.enrolment import enrol
from organisations.organisations import create_organisation
from storage import Employee
from storage.db import transaction

NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)
SENDER = "Certamen <no-reply@certs.example.com>"
EXAM = "social-media-frontline"


def enrolled(factory, due_at: dt.datetime) -> int:
    with transaction(factory) as db:
        org = create_organisation(db, "acme", "Acme Ltd", actor="test")
        enrol(db, org, b"name,email\nAda Lovelace,ada@acme.example\n", actor="test")
        assign(db, org, exam_id=EXAM, due_at=due_at, actor="test")
        return db.execute(select(Employee.candidate_id)).scalar_one()


def run(factory, at: dt.datetime) -> list[str]:
    """One run of the jobs at `at`: the subjects of what was sent."""
    plan(factory, now=at, public_url="https://certs.example.com", issuer="Example Certification Body")
    with smtp_server() as (server, received):
        deliver(factory, SmtpMailer(f"smtp://{server}", SENDER), worker="w", now=lambda: at)
    return sorted(m["Subject"] for m in received.messages)


def test_a_requirement_is_announced_reminded_and_chased_once_each(factory):
    enrolled(factory, NOW + dt.timedelta(days=2))
    exam = "Social Media Risk & Compliance — Front-line"
    assert run(factory, NOW) == [f"Please pass {exam} by 2026-12-10", f"Reminder: {exam} is due on 2026-12-10"]
    assert run(factory, NOW + dt.timedelta(hours=3)) == []
    one_day = run(factory, NOW + dt.timedelta(days=1, hours=1))
    assert one_day == [f"Reminder: {exam} is due on 2026-12-10"]
    assert run(factory, NOW + dt.timedelta(days=1, hours=2)) == []
    assert run(factory, NOW + dt.timedelta(days=2, hours=1)) == [f"Overdue: {exam} was due on 2026-12-10"]
    assert run(factory, NOW + dt.timedelta(days=5)) == []


def test_a_certificate_is_warned_about_at_60_30_and_7_days_then_its_lapse_once(factory):
    candidate = enrolled(factory, NOW + dt.timedelta(days=30))
    with transaction(factory) as db:
        certificate(db, candidate, EXAM, issued=NOW - dt.timedelta(days=300), valid_until=NOW + dt.timedelta(days=65))
    subjects = {}
    for day in (0, 4, 6, 20, 35, 36, 58, 59, 66, 80):
        subjects[day] = run(factory, NOW + dt.timedelta(days=day))
    expiry = "Your Social Media Risk & Compliance — Front-line certificate expires on 2027-02-11"
    assert [day for day, sent in subjects.items() if sent == [expiry]] == [6, 35, 58]
    assert subjects[66] == ["Your Social Media Risk & Compliance — Front-line certificate has expired"]
    assert all(not subjects[day] for day in (0, 4, 20, 36, 59, 80))


def test_a_new_certificate_is_announced_once_with_its_link_and_an_old_one_never(factory):
    candidate = enrolled(factory, NOW + dt.timedelta(days=30))
    with transaction(factory) as db:
        fresh = certificate(db, candidate, "social-media-manager", issued=NOW - dt.timedelta(hours=2),
                            valid_until=NOW + dt.timedelta(days=365))
        certificate(db, candidate, EXAM, issued=NOW - dt.timedelta(days=30), valid_until=NOW + dt.timedelta(days=335))
        org = db.execute(select(Employee.organisation_id)).scalar_one()
        from storage import Organisation
        assign(db, db.get(Organisation, org), exam_id="social-media-manager", due_at=NOW + dt.timedelta(days=30),
               actor="test")
    (body,) = bodies(factory, NOW)
    assert "You passed" in body and f"https://certs.example.com/verify/{fresh.id}" in body
    assert bodies(factory, NOW + dt.timedelta(days=1)) == []


def bodies(factory, at: dt.datetime) -> list[str]:
    """One run of the jobs at `at`: the plain-text bodies of what was sent."""
    plan(factory, now=at, public_url="https://certs.example.com", issuer="Example Certification Body")
    with smtp_server() as (server, received):
        deliver(factory, SmtpMailer(f"smtp://{server}", SENDER), worker="w", now=lambda: at)
    return [m.get_body(("plain",)).get_content() for m in received.messages]


def test_left_exempt_and_withdrawn_people_are_sent_nothing():
    base = {"employee_id": 1, "exam_id": EXAM, "active": True, "due_at": NOW + dt.timedelta(days=1),
            "valid_until": None, "certificate_id": None, "status": "not_started"}
    assert [d.kind for d in due_notices(base, NOW, 60)] == ["assignment", "reminder"]
    for changed in ({"active": False}, {"status": "exempt"}, {"status": "withdrawn"}, {"exam_id": None}):
        assert list(due_notices(base | changed, NOW, 60)) == []


def test_certamen_jobs_run_once_decides_and_sends_at_certamen_now(factory, database_url, tmp_path):
    enrolled(factory, NOW + dt.timedelta(days=2))
    with smtp_server() as (address, received):
        env = {**os.environ, "DATABASE_URL": database_url, "CERTAMEN_SMTP_URL": f"smtp://{address}",
               "CERTAMEN_NOW": NOW.isoformat(), "CERTAMEN_INSTANCE": str(tmp_path), "CERTAMEN_MAIL_FROM": SENDER}
        runs = [subprocess.run([sys.executable, "-m", "cli.main", "jobs", "run-once", "--json"], env=env,
                               capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    first, second = (json.loads(r.stdout) for r in runs)
    assert (first["decided"], first["sent"], second["decided"], second["sent"]) == (2, 2, 0, 0)
    assert sorted(m["To"] for m in received.messages) == ["ada@acme.example", "ada@acme.example"]
    body = received.messages[0].get_body(("plain",)).get_content()
    assert "Hello Ada Lovelace," in body and "Acme Ltd asks you to pass" in body and "http://127.0.0.1:8000/" in body
    reminder = next(m for m in received.messages if m["Subject"].startswith("Reminder"))
    assert "(2 days from now)" in reminder.get_body(("plain",)).get_content()  # the 7-day reminder, 2 days out
