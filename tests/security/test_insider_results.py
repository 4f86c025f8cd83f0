"""An insider who turns a failed sitting into a pass in the database gets no certificate for it.

The attack (issue 25, 1): `UPDATE exam_sessions SET decision='pass'` on a failed sitting, then the
result page, which used to issue a genuinely signed certificate. Issuance now re-derives the decision
from the recorded answers and the sitting's rules (item_bank.rescoring) and refuses, with an audit event
and a clear error, whenever the stored pass is not what they give. The same attack spelled differently --
the exam.finish event rewritten and every hash recomputed, the scores or choices changed, answers
marked unscored, the cut score lowered, the items made easier, the ending called a time-out -- fails
the same way.
"""
from __future__ import annotations

import datetime as dt

import pytest
from insider import db_of, edit_event_data, events_of, rehash_everything, result, set_sitting, sit, start
from learners import key_of, sign_in
from sqlalchemy import func, select, update

from certs.records import audit_report
from certs.service import REFUSED_KIND
from item_bank import runtime
from storage import Certificate, Item, ItemParameter, Response, Sitting, utcnow


def _mark_passed(db, sid):
    set_sitting(db, sid, decision="pass")


def _finish_event_rewritten_and_rehashed(db, sid):
    _mark_passed(db, sid)
    finish = events_of(db, kind="exam.finish", subject=f"session:{sid}")[0]
    edit_event_data(db, finish.id, decision="pass")
    rehash_everything(db)


def _every_score_one(db, sid):
    _mark_passed(db, sid)
    db.execute(update(Response).where(Response.session_id == sid).values(score=1))


def _every_choice_the_key(db, sid):
    _mark_passed(db, sid)
    for response in db.execute(select(Response).where(Response.session_id == sid)).scalars():
        response.choice, response.score = db.get(Item, response.item_id).key_index, 1


def _wrong_answers_unscored(db, sid):
    _mark_passed(db, sid)
    db.execute(update(Response).where(Response.session_id == sid, Response.score == 0).values(scored=False))


def _cut_score_lowered(db, sid):
    _mark_passed(db, sid)
    row = db.get(Sitting, sid)
    set_sitting(db, sid, cat_config={**row.cat_config, "cut_score": -10.0})


def _items_made_easier(db, sid):
    """Lower the difficulty of the sitting's parameter set (and restart, so the change is read)."""
    _mark_passed(db, sid)
    pinned = db.get(Sitting, sid).parameter_set_id
    db.execute(update(ItemParameter).where(ItemParameter.parameter_set_id == pinned).values(b=ItemParameter.b - 3))
    runtime.clear_cache()


def _called_a_time_out(db, sid):
    _mark_passed(db, sid)
    set_sitting(db, sid, stop_reason="time_limit")


SPELLINGS = {
    "decision": _mark_passed,
    "finish-event-rewritten-and-rehashed": _finish_event_rewritten_and_rehashed,
    "scores": _every_score_one,
    "choices": _every_choice_the_key,
    "wrong-answers-unscored": _wrong_answers_unscored,
    "cut-score": _cut_score_lowered,
    "item-parameters": _items_made_easier,
    "time-out": _called_a_time_out,
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_a_failed_sitting_passed_in_the_database_earns_no_certificate(client, app, spelling):
    sid = sit(client, app, email=f"{spelling}@example.com", correct=False)
    assert result(client, sid).get_json()["passed"] is False
    with db_of(app) as db:
        SPELLINGS[spelling](db, sid)

    refused = result(client, sid)
    assert refused.status_code == 409
    assert "does not follow from its recorded answers and rules" in refused.get_json()["error"]
    result(client, sid)  # asking again changes nothing, and is audited once
    with db_of(app) as db:
        assert db.execute(select(func.count()).select_from(Certificate)).scalar() == 0
        [event] = events_of(db, kind=REFUSED_KIND, subject=f"issuance:{sid}")
        assert event.data["reason"] == "record_disagrees" and event.data["stored"] == "pass"
        assert event.data["problems"] or event.data["derived"] == "fail"


def test_an_honest_pass_is_still_certified_and_verifies(client, app):
    sid = sit(client, app, email="honest@example.com", correct=True)
    body = result(client, sid).get_json()
    assert body["passed"] and body["certificate"]["id"]
    with db_of(app) as db:
        report = audit_report(db, app.extensions["issuer"].keys.trust_store())
        assert events_of(db, kind=REFUSED_KIND) == []
    assert report.ok, report.problems


def test_audit_verify_names_a_decision_that_differs_from_its_finish_event(client, app):
    sid = sit(client, app, email="named@example.com", correct=False)
    with db_of(app) as db:
        _mark_passed(db, sid)
        finish = events_of(db, kind="exam.finish", subject=f"session:{sid}")[0]
        report = audit_report(db, app.extensions["issuer"].keys.trust_store())
    assert not report.ok
    assert f"sitting {sid}: decision 'pass' differs from its exam.finish event {finish.id} ('fail') " \
           f"(result altered)" in report.problems


def test_a_certificate_inserted_for_a_failed_sitting_is_named(client, app):
    """The insider skips issuance and copies a genuine certificate row onto a failed sitting."""
    passed = sit(client, app, email="genuine@example.com", correct=True)
    result(client, passed)
    failed = sit(client, app, email="copier@example.com", correct=False)
    with db_of(app) as db:
        genuine = db.execute(select(Certificate)).scalar_one()
        copy = Certificate(**{c.name: getattr(genuine, c.name) for c in Certificate.__table__.columns})
        copy.id, copy.session_id, copy.status_index = "FAKE-FAKE-FAKE", failed, genuine.status_index + 1
        copy.is_current = False  # one current certificate per person and exam: the insider works round it
        db.add(copy)
        db.flush()
        _mark_passed(db, failed)
        report = audit_report(db, app.extensions["issuer"].keys.trust_store())
    assert "certificate FAKE-FAKE-FAKE: no certificate.issue event (inserted in the database, not issued)" \
        in report.problems
    assert "certificate FAKE-FAKE-FAKE: its sitting " + failed + "'s recorded answers re-derive 'fail', not a pass " \
           "(certificate unearned)" in report.problems


def _in_progress_with_enough_right_answers(client, app, email: str) -> str | None:
    """A sitting answered right until it has min_length (15) scored answers, if the engine has not stopped
    it by then (it may, depending on the sitting's seed and pretest items)."""
    sign_in(client, email)
    view = start(client).get_json()
    sid = view["session_id"]
    while view["state"] == "in_progress":
        with db_of(app) as db:
            scored = db.execute(select(func.count()).select_from(Response)
                                .where(Response.session_id == sid, Response.scored.is_(True))).scalar()
        if scored >= 15:
            return sid
        item = view["item"]
        view = client.post(f"/api/v1/sessions/{sid}/answers", json={
            "seq": item["seq"], "item_id": item["item_id"], "choice": key_of(app, item)}).get_json()
    return None


def test_a_pass_decided_by_the_time_limit_is_still_certified(client, app):
    """The other honest ending: the time runs out after enough right answers; the re-derivation must agree."""
    sid = next(filter(None, (_in_progress_with_enough_right_answers(client, app, f"timed{n}@example.com")
                             for n in range(8))))
    with db_of(app) as db:
        set_sitting(db, sid, deadline=utcnow() - dt.timedelta(minutes=5))
    body = result(client, sid).get_json()
    assert body["timed_out"] and body["passed"] and body["certificate"]["id"]
    with db_of(app) as db:
        assert audit_report(db, app.extensions["issuer"].keys.trust_store()).ok
