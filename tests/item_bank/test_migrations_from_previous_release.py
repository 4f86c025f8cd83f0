"""Upgrading a database of the previous release (schema 0005, release 0.1.0) keeps its data usable.

The old database is built the way that release would have left it: its schema by its own
migrations, its rows written with the tables as they were (reflected, not today's models), its
audit trail one global chain, and a learner with two exams in progress at once (allowed then).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import select

from item_bank.audit import GENESIS, _digest, verify_chain
from migrations import upgrade
from storage import Candidate, Exam, Sitting
from storage.db import make_engine, make_session_factory, transaction

PREVIOUS_RELEASE_HEAD = "0005"
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def _write_previous_release_rows(url: str) -> None:
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(t["items"].insert(), [
            {"id": n, "external_id": f"OLD-{n:03d}", "version": 1, "area": "ip", "scenario": "s", "question": "q",
             "options": [{"text": "a", "rationale": "r"}, {"text": "b", "rationale": "r"}], "key_index": 0,
             "status": "operational", "enemies": [], "is_current": True, "content_hash": "0" * 64, "created_at": T0}
            for n in (1, 2)])
        conn.execute(t["parameter_sets"].insert(), [{"id": 1, "label": "pilot", "provisional": True,
                                                     "source": "simulated pilot", "is_active": True,
                                                     "created_at": T0}])
        conn.execute(t["item_parameters"].insert(), [
            {"parameter_set_id": 1, "item_id": n, "model": "3PL", "a": 1.2, "b": 0.0, "c": 0.2, "d": 1.0}
            for n in (1, 2)])
        for exam_id in ("old-exam-a", "old-exam-b"):
            conn.execute(t["exams"].insert(), [{
                "id": exam_id, "version": 1, "title": exam_id, "description": "", "kind": "full", "areas": ["ip"],
                "blueprint": {}, "cut_score": 0.0, "cat_config": {"max_length": 2}, "validity_months": 12,
                "recert_window_days": 60, "grace_days": 30, "cryptosuite": "eddsa-rdfc-2022",
                "certificate_info": {}, "is_active": True, "created_at": T0, "updated_at": T0}])
        conn.execute(t["candidates"].insert(), [{"id": 1, "name": "Old Learner", "email": "old@example.com",
                                                 "created_at": T0}])
        sittings = [("older-sitting", "old-exam-a", T0), ("newer-sitting", "old-exam-b", T0 + dt.timedelta(hours=1))]
        conn.execute(t["exam_sessions"].insert(), [{
            "id": sid, "candidate_id": 1, "exam_id": exam, "exam_version": 1, "parameter_set_id": 1,
            "state": "in_progress", "seed": 7, "cat_config": {"areas": ["ip"], "cut_score": 0.0},
            "pending_item_id": 2, "pending_seq": 2, "started_at": started} for sid, exam, started in sittings])
        conn.execute(t["responses"].insert(), [{
            "session_id": sid, "seq": 1, "item_id": 1, "choice": 0, "score": 1, "scored": True, "answered_at": started}
            for sid, _, started in sittings])
        # The old audit trail: one global chain, in id order.
        events = [("candidate:1", "candidate.register", {})]
        for sid, exam, _ in sittings:
            events += [(f"session:{sid}", "exam.start", {"exam": exam}),
                       (f"session:{sid}", "exam.answer", {"seq": 1, "item": "OLD-001", "version": 1, "choice": 0,
                                                          "scored": True})]
        prev = GENESIS
        for n, (subject, kind, data) in enumerate(events, start=1):
            at = T0 + dt.timedelta(seconds=n)
            digest = _digest(prev, at.replace(tzinfo=None).isoformat(timespec="microseconds"), "system", kind,
                             subject, data)
            conn.execute(t["audit_events"].insert(), [{"id": n, "at": at, "actor": "system", "kind": kind,
                                                       "subject": subject, "data": data, "prev_hash": prev,
                                                       "hash": digest}])
            prev = digest
    engine.dispose()


def test_upgrade_from_the_previous_release_keeps_every_row_and_the_audit_trail(empty_database_url):
    upgrade(empty_database_url, PREVIOUS_RELEASE_HEAD)
    _write_previous_release_rows(empty_database_url)

    upgrade(empty_database_url)  # to head

    engine = make_engine(empty_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            learner = db.get(Candidate, 1)
            assert (learner.name, learner.email, learner.password_hash) == ("Old Learner", "old@example.com", None)
            assert db.get(Exam, "old-exam-a").integrity == {}  # no rules until the exam file sets some
            states = dict(db.execute(select(Sitting.id, Sitting.state)).all())
            # One sitting in progress per learner now: the most recent stays, the older one is set aside
            # (abandoned, not deleted: its response is still there).
            assert states == {"newer-sitting": "in_progress", "older-sitting": "abandoned"}
            assert all(len(db.get(Sitting, sid).responses) == 1 for sid in states)
            assert db.get(Sitting, "newer-sitting").deadline is None
            report = verify_chain(db)
            assert report.ok, report.problems
            assert report.checked == 5
    finally:
        engine.dispose()
