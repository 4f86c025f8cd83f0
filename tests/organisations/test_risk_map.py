"""The risk map: each area's margin over a borderline passer with its interval, from each person's latest
sitting, within one organisation; and a real sitting leaves its evidence by area without showing the learner
more than the verdict."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from learners import sit
from sqlalchemy import func, select

from organisations.enrolment import enrol
from organisations.organisations import create_organisation
from organisations.risk_map import MAX_SE, AreaStanding, risk_map
from storage import Employee, Response, SittingArea
from storage.db import make_engine, make_session_factory, transaction
from storage.tenancy import scoped_to
from tests.helpers.programme import sitting

NOW = dt.datetime(2027, 1, 15, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
AREAS = ["privacy", "security", "defamation"]


@pytest.mark.parametrize("margin,se,verdict", [
    (-0.10, 0.02, "below"), (0.10, 0.02, "above"), (0.01, 0.02, "at"), (-0.30, MAX_SE + 0.001, "too_few"),
])
def test_the_verdict_follows_the_interval(margin, se, verdict):
    assert AreaStanding("privacy", 10, 100, margin, se).verdict == verdict


def _evidence(db, candidate_id, finished, **areas):
    s = sitting(db, candidate_id, "social-media-frontline", decision="pass", started=finished)
    for area, (items, observed, expected, variance) in areas.items():
        db.add(SittingArea(sitting_id=s.id, area=area, candidate_id=candidate_id, exam_id=s.exam_id,
                           finished_at=finished, items=items, observed=observed, expected=expected,
                           variance=variance))
    db.flush()


def test_margins_come_from_each_persons_latest_sitting_in_one_organisation(database_url):
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as db:
        acme = create_organisation(db, "acme", "Acme", actor="test")
        other = create_organisation(db, "other", "Other", actor="test")
        enrol(db, acme, b"name,email,department\nA,a@x.example,Sales\nB,b@x.example,Support\n", actor="test")
        enrol(db, other, b"name,email\nZ,z@y.example\n", actor="test")
        people = {e.email[0]: e.candidate_id for e in db.execute(select(Employee)).scalars()}
        sales = db.execute(select(Employee.department_id).where(Employee.email == "a@x.example")).scalar()
        _evidence(db, people["a"], NOW - 200 * DAY, privacy=(10, 0.0, 9.0, 1.0))  # superseded by the next
        _evidence(db, people["a"], NOW - 10 * DAY, privacy=(40, 20.0, 30.0, 6.0), security=(4, 4.0, 2.0, 0.9))
        _evidence(db, people["b"], NOW - 5 * DAY, privacy=(60, 36.0, 42.0, 10.0))
        _evidence(db, people["z"], NOW - 5 * DAY, privacy=(500, 500.0, 100.0, 50.0))  # another organisation
        _evidence(db, people["b"], NOW - 400 * DAY, defamation=(50, 0.0, 40.0, 8.0))  # before the window
        acme_id = acme.id
    with factory() as db, scoped_to(db, acme_id):
        standings = {s.area: s for s in risk_map(db, AREAS, now=NOW)}
        sales_only = {s.area: s for s in risk_map(db, AREAS, now=NOW, department_id=sales)}
    privacy = standings["privacy"]
    assert (privacy.people, privacy.questions) == (2, 100)
    assert privacy.margin == pytest.approx((56.0 - 72.0) / 100) and privacy.se == pytest.approx(math.sqrt(16) / 100)
    assert privacy.verdict == "below"
    assert standings["security"].verdict == "too_few"  # 4 questions tell nothing
    assert standings["defamation"].margin is None and standings["defamation"].verdict == "too_few"
    assert sales_only["privacy"].people == 1 and sales_only["privacy"].margin == pytest.approx(-10 / 40)
    engine.dispose()


def test_a_sitting_records_its_evidence_and_the_learner_sees_only_verdicts(client, app):
    result = sit(client, app, email="ev@example.com")
    with transaction(app.extensions["db_factory"]) as db:
        rows = db.execute(select(SittingArea).where(SittingArea.sitting_id == result["session_id"])).scalars().all()
        scored = db.execute(select(func.count()).select_from(Response).where(
            Response.session_id == result["session_id"], Response.scored.is_(True))).scalar()
        right = db.execute(select(func.sum(Response.score)).where(
            Response.session_id == result["session_id"], Response.scored.is_(True))).scalar()
    assert rows and sum(r.items for r in rows) == scored and sum(r.observed for r in rows) == right
    assert all(0 < r.expected < r.items and 0 < r.variance < r.items / 4 + 1e-9 for r in rows)
    assert {a["area"] for a in result["areas"]} == {r.area for r in rows}
    assert all(set(a) == {"area", "items", "meets_standard"} for a in result["areas"])
