"""The demo organisation `make run` loads: a few hundred people, real sittings spread over fourteen months,
certificates that verify (some expiring, a few lapsed, some withdrawn), every status the console shows, an
audit trail that still verifies, and a second load that adds nothing."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from certs.keys import KeyStore
from certs.records import audit_report
from certs.service import IssuerSettings, verify_credential
from certs.verdict import Status
from organisations import demo
from organisations.demo import FRONTLINE, MANAGEMENT, MANAGERS_EXAM, SLUG, load_demo_organisation
from organisations.status import ExamClock, PeopleFilter, status_counts, summary
from storage import (
    AssignedExam,
    Assignment,
    AuditEvent,
    Candidate,
    Certificate,
    Employee,
    Organisation,
    OrgUnit,
    Response,
    Sitting,
    SittingArea,
    as_utc,
    utcnow,
)
from storage.db import make_engine, make_session_factory, transaction
from storage.tenancy import scoped_to

DAY = dt.timedelta(days=1)
TABLES = (Organisation, OrgUnit, Employee, Candidate, Assignment, AssignedExam, Sitting, Response, Certificate,
          AuditEvent)


def _issuer(key_dir) -> IssuerSettings:
    return IssuerSettings(public_url="https://certs.test", name="Certamen (test)",
                          keys=KeyStore(key_dir, host="https://certs.test"))


@pytest.fixture(scope="module")
def loaded(sqlite_template, tmp_path_factory):
    """The demo loaded once into a fresh copy of the prepared SQLite database (it takes half a minute)."""
    tmp = tmp_path_factory.mktemp("demo")
    shutil.copy(sqlite_template, tmp / "certamen.sqlite")
    engine = make_engine(f"sqlite:///{tmp / 'certamen.sqlite'}")
    factory = make_session_factory(engine)
    issuer = _issuer(tmp / "keys")
    now = utcnow()
    report = load_demo_organisation(factory, issuer, now=now)
    print(report.summary())
    yield factory, issuer, now, report
    engine.dispose()


def _org_id(db) -> int:
    return db.execute(select(Organisation.id).where(Organisation.slug == SLUG)).scalar_one()


def _row_counts(factory) -> dict[str, int]:
    with transaction(factory) as db:
        return {t.__tablename__: db.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def test_the_report_adds_up(loaded):
    factory, _issuer, _now, report = loaded
    assert report.loaded and not report.resumed and report.slug == SLUG
    assert report.people == 300
    assert report.sittings == report.passed + report.failed + report.in_progress
    assert report.sittings >= 290  # nearly everyone sat at least once, some twice or three times
    assert 0.65 <= report.passed / (report.passed + report.failed) <= 0.85  # abilities drawn for about 75 %
    assert report.in_progress == 4
    assert report.certificates == report.passed  # every pass certified, nothing else
    assert (report.revoked, report.suspended) == (1, 2)
    assert report.expiring_60_days >= 10 and report.lapsed >= 1
    assert "300 people" in report.summary()


def test_a_second_load_adds_nothing(loaded):
    factory, issuer, now, _report = loaded
    before = _row_counts(factory)
    again = load_demo_organisation(factory, issuer, now=now + DAY)
    assert not again.loaded and "loaded already" in again.summary()
    assert _row_counts(factory) == before


def test_every_status_the_console_shows_is_there(loaded):
    factory, _issuer, now, _report = loaded
    with factory() as db, scoped_to(db, _org_id(db)):
        clock = ExamClock.at(db, now)
        frontline = status_counts(db, clock, PeopleFilter(exam_id=FRONTLINE))
        managers = status_counts(db, clock, PeopleFilter(exam_id=MANAGERS_EXAM))
        everyone = status_counts(db, clock)
        expiring_soon = summary(db, clock, expiring_days=60)[1]
        management = db.execute(select(func.count()).select_from(Employee).join(OrgUnit, OrgUnit.id ==
                                                                                Employee.department_id)
                                .where(OrgUnit.name == MANAGEMENT)).scalar_one()
    assert sum(frontline.values()) == 300  # everyone has the front-line exam to hold
    assert sum(managers.values()) == management >= 8  # the management department, the managers' exam too
    assert everyone["none"] == 0 and everyone["exempt"] == 0
    assert frontline["passed"] >= 150
    assert frontline["expiring"] >= 10
    assert 1 <= frontline["lapsed"] <= 25
    assert frontline["in_progress"] == 4
    assert frontline["failed"] >= 3
    assert 10 <= frontline["overdue"] <= 100
    assert frontline["not_started"] >= 3
    assert everyone["withdrawn"] == 3
    assert managers["passed"] + managers["expiring"] >= 1 and managers["overdue"] >= 1
    assert expiring_soon >= frontline["expiring"]


def test_the_audit_trail_verifies_and_so_do_the_certificates(loaded):
    factory, issuer, now, _report = loaded
    with transaction(factory) as db:
        report = audit_report(db, issuer.keys.trust_store())
        assert report.problems == [] and report.ok
        certs = db.execute(select(Certificate)).scalars().all()
        picked = {
            "valid": next(c for c in certs if c.revoked_at is None and c.suspended_at is None
                          and as_utc(c.valid_until) > now + 90 * DAY),
            "expiring": next(c for c in certs if c.revoked_at is None and c.suspended_at is None
                             and now < as_utc(c.valid_until) <= now + 60 * DAY),
            "lapsed": next(c for c in certs if as_utc(c.valid_until) < now),
            "revoked": next(c for c in certs if c.revoked_at is not None),
            "suspended": next(c for c in certs if c.suspended_at is not None),
        }
        verdicts = {what: verify_credential(db, c.credential, issuer, now=now).status for what, c in picked.items()}
        reasons = {c.status_reason for c in certs if c.status_reason}
    assert verdicts == {"valid": Status.VALID, "expiring": Status.VALID, "lapsed": Status.EXPIRED,
                        "revoked": Status.REVOKED, "suspended": Status.SUSPENDED}
    assert len(reasons) == 3


def test_the_history_is_spread_over_fourteen_months(loaded):
    factory, _issuer, now, _report = loaded
    with transaction(factory) as db:
        org_id = _org_id(db)
        given = min(as_utc(at) for at in db.execute(select(AssignedExam.assigned_at)
                                                    .where(AssignedExam.organisation_id == org_id)).scalars())
        finished = db.execute(select(Sitting).where(Sitting.state == "completed")).scalars().all()
        certs = {c.session_id: c for c in db.execute(select(Certificate)).scalars()}
        answered = {sid: (as_utc(first), as_utc(last)) for sid, first, last in db.execute(
            select(Response.session_id, func.min(Response.presented_at), func.max(Response.answered_at))
            .group_by(Response.session_id))}
        copies = [("sitting_areas", sid, as_utc(at))
                  for sid, at in db.execute(select(SittingArea.sitting_id, SittingArea.finished_at))]
    starts = sorted(as_utc(s.started_at) for s in finished)
    assert now - 14.5 * 30 * DAY < given < starts[0] < now - 365 * DAY
    assert starts[-1] < now
    months = {(s.year, s.month) for s in starts}
    assert len(months) >= 13
    for sitting in finished:
        start, end = as_utc(sitting.started_at), as_utc(sitting.finished_at)
        assert answered[sitting.id] == (start, end)
        assert dt.timedelta(minutes=3) < end - start < dt.timedelta(minutes=60)
        if sitting.decision == "pass":  # issued at the (back-dated) finish, valid a year from it
            cert = certs[sitting.id]
            assert as_utc(cert.issued_at) == as_utc(cert.valid_from) == end
            assert 365 <= (as_utc(cert.valid_until) - end).days <= 366
            assert cert.credential["validFrom"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))
        else:
            assert sitting.id not in certs
    ends = {s.id: as_utc(s.finished_at) for s in finished}
    assert copies and [(name, sid, at) for name, sid, at in copies if ends.get(sid) != at] == []  # moved with it


def test_an_interrupted_load_is_finished_by_the_next(sqlite_url, tmp_path, monkeypatch):
    engine = make_engine(sqlite_url)
    factory = make_session_factory(engine)
    issuer = _issuer(tmp_path / "keys")
    answers = 0
    answer = demo._answer

    def interrupted(*args, **kwargs):
        nonlocal answers
        answers += 1
        if answers == 400:
            raise KeyboardInterrupt
        return answer(*args, **kwargs)

    monkeypatch.setattr(demo, "_answer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_demo_organisation(factory, issuer, people=40)
    monkeypatch.setattr(demo, "_answer", answer)
    report = load_demo_organisation(factory, issuer, people=40)
    assert report.loaded and report.resumed and report.people == 40
    assert report.in_progress >= 1  # the sitting the interruption left, and those planned
    with transaction(factory) as db:
        assert audit_report(db, issuer.keys.trust_store()).problems == []
    assert not load_demo_organisation(factory, issuer, people=40).loaded
    engine.dispose()


def test_certamen_demo_load(sqlite_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": sqlite_url, "CERTAMEN_KEY_DIR": str(tmp_path / "keys")}

    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "cli.main", "demo", "load", *args], capture_output=True,
                              text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    first = run("--people", "40").splitlines()
    assert first[0].startswith(f"demo organisation {SLUG} loaded: 40 people") and len(first) == 2
    again = run("--people", "40").splitlines()
    assert again[0] == f"demo organisation {SLUG} is loaded already; nothing to do"
    # each run prints a fresh one-time console link for the demo's org admin; the older one no longer works
    links = [line.split("open ", 1)[1].split()[0] for line in (first[1], again[1])]
    assert all("/console/signin/link#sln_" in link for link in links) and links[0] != links[1]
