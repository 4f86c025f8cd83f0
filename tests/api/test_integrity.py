"""Exam integrity rules per exam: one sitting at a time, retake waiting period, attempt limit,
time limit (on SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from learners import key_of, learner_headers
from sqlalchemy import select

from item_bank.content import ContentError, ExamSource
from item_bank.integrity import IntegrityRules
from item_bank.loader import exam_fields
from storage import AuditEvent, Response, Sitting, utcnow
from storage.db import transaction

FRONTLINE = "social-media-frontline"  # retake after 1 day, 3 attempts, 60 minutes


def start(client, headers, exam=FRONTLINE):
    return client.post("/api/v1/sessions", json={"exam_id": exam}, headers=headers)


def sit(client, app, headers, *, correct: bool) -> dict:
    view = start(client, headers).get_json()
    while view["state"] == "in_progress":
        item = view["item"]
        key = key_of(app, item)
        choice = key if correct else (key + 1) % len(item["options"])
        view = client.post(f"/api/v1/sessions/{view['session_id']}/answers", headers=headers,
                           json={"seq": item["seq"], "item_id": item["item_id"], "choice": choice}).get_json()
    return client.get(f"/api/v1/sessions/{view['session_id']}/result", headers=headers).get_json()


def age_sittings(app, days: float) -> None:
    """Moves every finished sitting `days` into the past, as if time had passed."""
    with transaction(app.extensions["db_factory"]) as db:
        for row in db.execute(select(Sitting).where(Sitting.finished_at.is_not(None))).scalars():
            row.started_at -= dt.timedelta(days=days)
            row.finished_at -= dt.timedelta(days=days)


def test_one_sitting_in_progress_per_learner_across_exams(client):
    ada = learner_headers(client, "ada@example.com")
    first = start(client, ada)
    assert first.status_code == 201
    other = start(client, ada, exam="social-media-manager")
    assert other.status_code == 409 and "in progress" in other.get_json()["error"]
    assert start(client, ada).get_json()["session_id"] == first.get_json()["session_id"]  # resuming is fine


def test_retake_waits_after_a_failure_but_not_after_a_pass(client, app):
    ada = learner_headers(client, "ada@example.com")
    assert sit(client, app, ada, correct=False)["passed"] is False
    refused = start(client, ada)
    assert refused.status_code == 409 and "retake this exam from" in refused.get_json()["error"]
    age_sittings(app, days=1.01)
    assert sit(client, app, ada, correct=True)["passed"] is True
    assert start(client, ada).status_code == 201  # after a pass there is no waiting period


def test_attempt_limit_and_the_administrators_grant(client, app, role_token):
    ada = learner_headers(client, "ada@example.com")
    for _ in range(3):
        assert sit(client, app, ada, correct=False)["passed"] is False
        age_sittings(app, days=2)
    refused = start(client, ada)
    assert refused.status_code == 409 and "all 3 attempts" in refused.get_json()["error"]

    me = client.get("/api/v1/me", headers=ada).get_json()["learner_id"]
    url = f"/api/v1/admin/learners/{me}/attempt-grants"
    assert client.post(url, json={"exam_id": FRONTLINE, "reason": "x"}, headers=ada).status_code == 401
    hr = {"Authorization": f"Bearer {role_token('hr')}"}
    assert client.post(url, json={"exam_id": FRONTLINE, "reason": "x"}, headers=hr).status_code == 403
    admin = {"Authorization": f"Bearer {role_token('admin')}"}
    assert client.post(url, json={"exam_id": FRONTLINE, "reason": " "}, headers=admin).status_code == 422
    r = client.post(url, json={"exam_id": FRONTLINE, "reason": "retrained by the manager"}, headers=admin)
    assert r.status_code == 201
    assert start(client, ada).status_code == 201
    with transaction(app.extensions["db_factory"]) as db:
        assert db.execute(select(AuditEvent).where(AuditEvent.kind == "exam.attempt_grant")).scalar_one()


def _expire(app, session_id: str) -> None:
    with transaction(app.extensions["db_factory"]) as db:
        db.get(Sitting, session_id).deadline = utcnow() - dt.timedelta(minutes=1)


def test_time_limit_is_shown_and_ends_the_sitting(client, app):
    ada = learner_headers(client, "ada@example.com")
    view = start(client, ada).get_json()
    assert 3590 <= view["seconds_left"] <= 3600 and view["deadline"]
    sid = view["session_id"]
    item = view["item"]
    view = client.post(f"/api/v1/sessions/{sid}/answers", headers=ada,
                       json={"seq": item["seq"], "item_id": item["item_id"], "choice": 0}).get_json()
    _expire(app, sid)
    item = view["item"]
    late = client.post(f"/api/v1/sessions/{sid}/answers", headers=ada,
                       json={"seq": item["seq"], "item_id": item["item_id"], "choice": 0})
    assert late.status_code == 409 and "time limit" in late.get_json()["error"]
    assert late.get_json()["state"] == "completed" and late.get_json()["seconds_left"] is None
    result = client.get(f"/api/v1/sessions/{sid}/result", headers=ada).get_json()
    # One answer is far below the exam's minimum length: not enough evidence to certify anyone.
    assert result["timed_out"] is True and result["passed"] is False and result["items_answered"] == 1
    with transaction(app.extensions["db_factory"]) as db:
        assert len(db.execute(select(Response).where(Response.session_id == sid)).all()) == 1
        finish = db.execute(select(AuditEvent).where(AuditEvent.kind == "exam.finish",
                                                     AuditEvent.subject == f"session:{sid}")).scalar_one()
        assert finish.data["stop_reason"] == "time_limit"


def test_an_overdue_sitting_is_closed_when_the_learner_comes_back(client, app):
    ada = learner_headers(client, "ada@example.com")
    sid = start(client, ada).get_json()["session_id"]
    _expire(app, sid)
    view = client.get(f"/api/v1/sessions/{sid}", headers=ada).get_json()
    assert view["state"] == "completed" and view["item"] is None
    # It counts as a failed attempt, so the waiting period applies.
    assert "retake this exam from" in start(client, ada).get_json()["error"]


@pytest.mark.parametrize("rules, fragment", [
    ({"max_attemps": 3}, "unknown integrity setting"),
    ({"time_limit_minutes": -5}, "greater than 0"),
    ({"max_attempts": 1.5}, "whole number"),
    ({"retake_wait_days": "a week"}, "number"),
    (["time_limit_minutes"], "mapping"),
])
def test_bad_integrity_rules_fail_the_exam_load_with_the_file(rules, fragment):
    with pytest.raises(ValueError, match=fragment):
        IntegrityRules.from_dict(rules)
    source = ExamSource("x", {"title": "X", "areas": ["ip"], "cut_score": 0, "integrity": rules}, "exams/x.yaml")
    with pytest.raises(ContentError, match="exams/x.yaml"):
        exam_fields(source)


def test_rules_round_trip_and_defaults():
    assert IntegrityRules.from_dict(None) == IntegrityRules()
    rules = IntegrityRules.from_dict({"retake_wait_days": 7, "max_attempts": 3, "time_limit_minutes": 45})
    assert IntegrityRules.from_dict(rules.as_dict()) == rules
    start_time = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert rules.deadline(start_time) == start_time + dt.timedelta(minutes=45)
    assert IntegrityRules().deadline(start_time) is None
