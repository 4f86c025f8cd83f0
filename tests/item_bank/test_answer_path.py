"""The answer path's shortcuts give exactly what the long way gives.

An answer reads the sitting and its audit chain head in one statement (on PostgreSQL it starts from the
row its previous answer left in this process, if any, and its write re-checks it), writes with Core
statements, goes on from the engine session its previous answer left in this process (when the sitting
row has not moved on since) and caches the engine config per sitting. Each is checked against what it
replaces.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from item_bank import accounts, audit, delivery, runtime
from item_bank.audit import verify_chain
from item_bank.delivery import answering, scoring
from item_bank.delivery.engine_sessions import cache, pool_of
from item_bank.delivery.statements import stored_answers
from item_bank.runtime import engine_config
from storage import ApiToken, Candidate, Item, Sitting, utcnow
from storage.db import transaction

EXAM = "social-media-frontline"


def new_sitting(factory, email: str) -> str:
    with transaction(factory) as db:
        candidate = Candidate(name="Path Tester", email=email)
        db.add(candidate)
        db.flush()
        return delivery.start_sitting(db, candidate_id=candidate.id, exam_id=EXAM).id


def answer(factory, sid: str, n: int) -> delivery.AnswerOutcome:
    """Right, right, wrong, ... so that the estimate moves both ways."""
    with transaction(factory) as db:
        row = delivery.get_sitting(db, sid)
        seq, item = row.pending_seq, db.get(Item, row.pending_item_id)
        written = item.key_index if n % 3 != 2 else (item.key_index + 1) % len(item.options)
        choice = delivery.position_shown(db, sid, written)
    return delivery.submit_answer(factory, sid, seq=seq, item_ref=item.external_id, choice=choice)


def kept_engine_session(factory, sid: str):
    with transaction(factory) as db:
        pool = pool_of(db, delivery.get_sitting(db, sid))
    entry = cache._entries.get((pool.database, sid))
    return None if entry is None else entry.session


def replayed_engine_session(factory, sid: str):
    with transaction(factory) as db:
        row = delivery.get_sitting(db, sid)
        pool = pool_of(db, row)
        scored = [r for r in stored_answers(db, sid) if r.scored]
        session = delivery.replay(pool, row, scored)
    session.next_item()
    return session


def test_the_kept_engine_session_is_the_one_a_replay_builds(factory, monkeypatch):
    replays = []
    replay = scoring.replay
    monkeypatch.setattr(scoring, "replay", lambda *args: replays.append(1) or replay(*args))
    sid = new_sitting(factory, "kept@example.com")
    kept = kept_engine_session(factory, sid)  # the start's
    assert kept is not None and kept.to_state() == replayed_engine_session(factory, sid).to_state()
    for n in range(100):
        before = len(replays)
        outcome = answer(factory, sid, n)
        # No answer replays: each finds the row version the start or the previous answer left. Nor the
        # last on PostgreSQL, whose optimistic try stops short of the closing writes and leaves the
        # session as it found it for the answer to be taken again under the row lock.
        assert len(replays) == before
        if outcome.finished:
            break
        kept, replayed = kept_engine_session(factory, sid), replayed_engine_session(factory, sid)
        assert kept is not None
        assert kept.to_state() == replayed.to_state()
        assert kept.set_aside == replayed.set_aside
    else:
        raise AssertionError("the exam did not finish within 100 answers")
    assert kept_engine_session(factory, sid) is None  # a finished sitting is not kept
    with transaction(factory) as db:
        assert verify_chain(db).ok


def kept_entry(factory, sid: str):
    with transaction(factory) as db:
        pool = pool_of(db, delivery.get_sitting(db, sid))
    key = (pool.database, sid)
    return key, cache._entries.get(key)


def test_a_kept_engine_session_is_used_only_at_the_sitting_version_it_was_kept_at(factory):
    sid = new_sitting(factory, "differs@example.com")
    answer(factory, sid, 0)
    answer(factory, sid, 1)
    key, kept = kept_entry(factory, sid)
    seq, presented_at = kept.version
    assert cache.take(key, (seq + 1, presented_at)) is None
    cache.keep(key, kept.session, kept.row, kept.head)
    assert cache.take(key, (seq, presented_at.replace(microsecond=(presented_at.microsecond + 1) % 10**6))) is None
    cache.keep(key, kept.session, kept.row, kept.head)
    assert cache.take(key, kept.version) is kept.session
    assert cache.take(key, kept.version) is None  # taken: gone, not handed out twice


def test_an_answer_stored_by_another_worker_makes_this_workers_entry_stale(factory):
    """Another worker answered in between (its answer replayed): the entry left here must not be used."""
    sid = new_sitting(factory, "elsewhere@example.com")
    answer(factory, sid, 0)
    key, stale = kept_entry(factory, sid)
    cache._entries.pop(key)  # as if the next answer went to another worker
    answer(factory, sid, 1)
    cache._entries[key] = stale  # this worker still holds its old entry
    outcome = answer(factory, sid, 2)
    assert outcome.answered == 3
    if not outcome.finished:
        assert kept_engine_session(factory, sid).to_state() == replayed_engine_session(factory, sid).to_state()
    with transaction(factory) as db:
        assert len(stored_answers(db, sid)) == 3
        assert verify_chain(db).ok


def test_an_answer_that_rolls_back_keeps_no_engine_session(factory, monkeypatch):
    sid = new_sitting(factory, "rollback@example.com")
    answer(factory, sid, 0)
    with transaction(factory) as db:
        before = delivery.get_sitting(db, sid).pending_seq

    write_answer, in_transaction = answering.write_answer, factory.kw["bind"].dialect.name != "postgresql"

    def fail(*args, **kwargs):
        if in_transaction:  # SQLite: the writes are made, then rolled back; on PostgreSQL the write commits
            write_answer(*args, **kwargs)
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(answering, "write_answer", fail)  # after the engine session recorded the answer
        with pytest.raises(RuntimeError):
            answer(factory, sid, 1)
    assert kept_engine_session(factory, sid) is None  # it had recorded an answer that was not stored
    with transaction(factory) as db:
        assert delivery.get_sitting(db, sid).pending_seq == before
    answer(factory, sid, 1)
    assert kept_engine_session(factory, sid).to_state() == replayed_engine_session(factory, sid).to_state()
    with transaction(factory) as db:
        assert verify_chain(db).ok


def test_a_stale_chain_head_is_refused_rather_than_forking_the_chain(factory):
    sid = new_sitting(factory, "stale@example.com")
    answer(factory, sid, 0)
    with pytest.raises(IntegrityError):
        with transaction(factory) as db:
            audit.record(db, actor="test", kind="exam.answer", subject=f"session:{sid}", head=audit.EMPTY_CHAIN,
                         data={"seq": 2})
    with transaction(factory) as db:
        assert verify_chain(db).ok


@pytest.mark.parametrize("previous_answer", ["here", "in another worker"])
def test_a_usual_answer_is_one_read_and_its_writes(factory, previous_answer):
    """Response, sitting and audit event: three statements on SQLite, one on PostgreSQL. There, an
    answer to the sitting this process answered last does not even read the sitting: that one
    statement is all."""
    sid = new_sitting(factory, "statements@example.com")
    answer(factory, sid, 0)  # the first answer in this process also reads the sitting's snapshot
    if previous_answer != "here":
        cache._entries.pop(kept_entry(factory, sid)[0])
    with transaction(factory) as db:
        row = delivery.get_sitting(db, sid)
        seq, item = row.pending_seq, db.get(Item, row.pending_item_id)
        choice = delivery.position_shown(db, sid, item.key_index)
    engine, seen = factory.kw["bind"], []

    def statement(conn, cursor, sql, *rest):
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", statement)
    try:
        outcome = delivery.submit_answer(factory, sid, seq=seq, item_ref=item.external_id, choice=choice)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
    assert not outcome.finished and outcome.answered == 2
    postgres = engine.dialect.name == "postgresql"
    # The sitting with its chain head (then maybe the next item's text, and the sitting's settings
    # snapshot, once per process, and the stored answers to replay when the previous answer was taken
    # elsewhere).
    sitting_reads = [s for s in seen if s.startswith("SELECT exam_sessions.id,")]
    assert len(sitting_reads) == (0 if postgres and previous_answer == "here" else 1)
    # On PostgreSQL one statement writes, advancing the sitting only if no other answer has.
    kinds = [s.split(None, 1)[0].upper() for s in seen]
    assert [k for k in kinds if k != "SELECT"] == (["WITH"] if postgres else ["INSERT", "UPDATE", "INSERT"])
    with transaction(factory) as db:
        assert len(stored_answers(db, sid)) == 2 and verify_chain(db).ok
        assert db.get(Sitting, sid).pending_seq == 3


def test_a_start_reads_the_exam_its_parameters_and_the_running_sitting_in_one_statement(factory):
    """The exam, the active parameter set, the exam's exposure row and the candidate's sitting in
    progress come in one statement; then the attempt history (this exam has retake rules), the pretest
    items if this sitting draws any, and the two inserts. A second start resumes the same sitting."""
    new_sitting(factory, "start-warm-up@example.com")  # the process has read the bank's pool
    with transaction(factory) as db:
        candidate = Candidate(name="Start Counter", email="start-statements@example.com")
        db.add(candidate)
        db.flush()
        candidate_id = candidate.id
    engine, seen = factory.kw["bind"], []

    def statement(conn, cursor, sql, *rest):
        seen.append(" ".join(sql.split()))

    event.listen(engine, "before_cursor_execute", statement)
    try:
        with transaction(factory) as db:
            row = delivery.start_sitting(db, candidate_id=candidate_id, exam_id=EXAM)
            sid, pretest = row.id, row.cat_config["pretest_plan"]
    finally:
        event.remove(engine, "before_cursor_execute", statement)
    reads = [s for s in seen if s.upper().startswith("SELECT")]
    context = [s for s in reads if s.startswith("SELECT exams.id,") and "parameter_sets.id" in s
               and "exposure_controls.k" in s and "exam_sessions.state" in s]
    history = [s for s in reads if s.startswith("SELECT exam_sessions.decision,")]
    pretest_items = [s for s in reads if s.startswith("SELECT items.id FROM items")]
    assert len(context) == 1 and len(history) == 1 and len(pretest_items) <= 1
    assert len(reads) == 2 + len(pretest_items), reads
    assert not pretest or pretest_items  # a pretest plan comes from the pretest items read
    writes = [s.split(" (", 1)[0] for s in seen if s.upper().startswith("INSERT")]
    assert writes == ["INSERT INTO exam_sessions", "INSERT INTO audit_events"]
    with transaction(factory) as db:
        assert delivery.start_sitting(db, candidate_id=candidate_id, exam_id=EXAM).id == sid


def test_an_answer_writes_only_what_it_changes(factory):
    """area_feedback stays SQL NULL until the end (a JSON null would be a different stored value)."""
    sid = new_sitting(factory, "nulls@example.com")
    answer(factory, sid, 0)
    with transaction(factory) as db:
        row = db.get(Sitting, sid)
        assert row.state == "in_progress" and row.pending_seq == 2 and row.theta is not None
        assert db.execute(select(func.count()).select_from(Sitting).where(
            Sitting.id == sid, Sitting.area_feedback.is_(None), Sitting.decision.is_(None),
            Sitting.finished_at.is_(None))).scalar() == 1


def test_engine_configs_are_shared_by_content_and_never_across_snapshots(factory):
    with transaction(factory) as db:
        row = delivery.get_sitting(db, new_sitting(factory, "config@example.com"))
        pool = pool_of(db, row)
        snapshot = dict(row.cat_config)
    with_plan = {**snapshot, "pretest_plan": {"3": int(pool.item_ids[0])}}
    assert engine_config(pool, with_plan) is engine_config(pool, {**snapshot, "pretest_plan": {}})
    other = {**snapshot, "max_length": snapshot.get("max_length", 40) - 1}
    assert engine_config(pool, other) is not engine_config(pool, snapshot)
    assert engine_config(pool, snapshot, sitting="s1") is engine_config(pool, snapshot)
    assert engine_config(pool, other, sitting="s2") is engine_config(pool, other)


@pytest.mark.parametrize("previous_answer", ["here", "in another worker"])
def test_an_answer_that_loses_the_race_after_its_unlocked_read_writes_nothing(factory, monkeypatch, previous_answer):
    """On PostgreSQL the usual answer reads the sitting without its row lock (or takes it as this process's
    previous answer left it). Here the same answer is stored by another request between that read and the
    write: the write advances nothing, stores nothing, and the answer is taken again under the lock, as
    the duplicate it now is."""
    if factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite answers in a transaction")
    sid = new_sitting(factory, "race@example.com")
    answer(factory, sid, 0)
    if previous_answer != "here":
        cache._entries.pop(kept_entry(factory, sid)[0])
    with transaction(factory) as db:
        row = delivery.get_sitting(db, sid)
        seq, item = row.pending_seq, db.get(Item, row.pending_item_id)
    raced, written = [], []
    write_answer = answering.write_answer

    def another_request_answers_first(*args, **kwargs):
        if not raced:
            raced.append(None)  # the other request's own write goes straight on
            raced[0] = delivery.submit_answer(factory, sid, seq=seq, item_ref=item.external_id, choice=0)
        result = write_answer(*args, **kwargs)
        written.append("nothing" if isinstance(result, scoring.Stale) else "written")
        return result

    monkeypatch.setattr(answering, "write_answer", another_request_answers_first)
    outcome = delivery.submit_answer(factory, sid, seq=seq, item_ref=item.external_id, choice=0)
    assert not raced[0].duplicate and outcome.duplicate and outcome.answered == 2
    # The other request's write, then this one's, which found the sitting moved on (before any constraint fired).
    assert written == ["written", "nothing"]
    with transaction(factory) as db:
        stored = stored_answers(db, sid)
        assert [r.seq for r in stored] == [1, 2] and db.get(Sitting, sid).pending_seq == 3
        assert verify_chain(db).ok


def test_a_sittings_snapshot_is_read_once_and_shares_its_exams_settings(factory):
    """Answers take the sitting's cat_config from a per-process cache, filled by the start (or by the
    first read elsewhere): equal to what is stored, and the settings two sittings of one exam have in
    common are one object, not a copy per sitting."""
    first, second = new_sitting(factory, "snap1@example.com"), new_sitting(factory, "snap2@example.com")
    answer(factory, first, 0)
    answer(factory, second, 0)
    engine, seen = factory.kw["bind"], []

    def statement(conn, cursor, sql, *rest):
        seen.append(sql)

    with transaction(factory) as db:
        event.listen(engine, "before_cursor_execute", statement)
        try:
            snapshots = [runtime.sitting_snapshot(db, sid) for sid in (first, second)]
        finally:
            event.remove(engine, "before_cursor_execute", statement)
        assert seen == []  # cached when the sittings started in this process
        assert [db.get(Sitting, sid).cat_config for sid in (first, second)] == snapshots
    runtime._snapshots.clear()  # as in another worker: read once, then cached
    with transaction(factory) as db:
        event.listen(engine, "before_cursor_execute", statement)
        try:
            assert runtime.sitting_snapshot(db, first) == snapshots[0]
            assert len(seen) == 1
            assert runtime.sitting_snapshot(db, first) is runtime.sitting_snapshot(db, first)
            assert len(seen) == 1
        finally:
            event.remove(engine, "before_cursor_execute", statement)
    shared = [k for k in snapshots[0] if k != "pretest_plan" and isinstance(snapshots[0][k], (dict, list))]
    assert shared and all(snapshots[0][k] is snapshots[1][k] for k in shared)


def signed_in_sitting(factory, email: str) -> tuple[str, str]:
    with transaction(factory) as db:
        candidate = Candidate(name="Token Tester", email=email)
        db.add(candidate)
        db.flush()
        token = accounts.start_session(db, candidate).token
        return token, delivery.start_sitting(db, candidate_id=candidate.id, exam_id=EXAM).id


def answer_with(factory, sid: str, token: str) -> delivery.AnswerOutcome:
    with transaction(factory) as db:
        row = delivery.get_sitting(db, sid)
        seq, item = row.pending_seq, db.get(Item, row.pending_item_id)
    return delivery.submit_answer(factory, sid, seq=seq, item_ref=item.external_id, choice=0, learner_token=token)


def stored_count(factory, sid: str) -> int:
    with transaction(factory) as db:
        assert verify_chain(db).ok
        return len(stored_answers(db, sid))


@pytest.mark.parametrize("since", ["signed out", "expired", "someone else's token"])
def test_a_token_no_longer_good_since_the_previous_answer_is_refused_and_nothing_is_written(factory, since):
    """The previous answer left the sitting known to this process, so on PostgreSQL the next one does not
    read it: its write statement is what checks the token, and it must check it as the read does."""
    token, sid = signed_in_sitting(factory, f"token-{since.replace(' ', '-')}@example.com")
    assert answer_with(factory, sid, token).answered == 1
    with transaction(factory) as db:
        if since == "signed out":
            accounts.end_session(db, token)
        elif since == "expired":
            db.execute(update(ApiToken).where(ApiToken.token_hash == accounts.token_digest(token))
                       .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        else:
            token = signed_in_sitting(factory, "token-other@example.com")[0]
    refused = delivery.NotFound if since == "someone else's token" else delivery.NotSignedIn
    with pytest.raises(refused):
        answer_with(factory, sid, token)
    assert stored_count(factory, sid) == 1
    with transaction(factory) as db:
        assert db.get(Sitting, sid).pending_seq == 2


@pytest.mark.parametrize("retry", ["same answer", "different answer"])
def test_a_known_sitting_answered_meanwhile_by_another_worker_is_not_answered_twice(factory, retry):
    """This process knows the sitting at seq 2, another worker has since taken seq 2, and a retry of
    seq 2 arrives here: the duplicate is recognised (or the change refused), and nothing is written."""
    token, sid = signed_in_sitting(factory, f"retry-{retry.replace(' ', '-')}@example.com")
    answer_with(factory, sid, token)
    key, stale = kept_entry(factory, sid)
    cache._entries.pop(key)  # the next answer goes to another worker
    first = answer_with(factory, sid, token)
    cache._entries[key] = stale  # this worker still knows the sitting at seq 2
    with transaction(factory) as db:
        answered = stored_answers(db, sid)[1]
        item = db.get(Item, answered.item_id)
        shown = delivery.option_order(db.get(Sitting, sid).seed, 2, runtime.item_content(db, item.id))
    choice = shown.index(answered.choice)  # the position the learner clicked
    choice = choice if retry == "same answer" else (choice + 1) % len(item.options)
    if retry == "same answer":
        again = delivery.submit_answer(factory, sid, seq=2, item_ref=item.external_id, choice=choice,
                                       learner_token=token)
        assert again.duplicate and again.answered == first.answered == 2
    else:
        with pytest.raises(delivery.Conflict):
            delivery.submit_answer(factory, sid, seq=2, item_ref=item.external_id, choice=choice,
                                   learner_token=token)
    assert stored_count(factory, sid) == 2
