"""The audit trail is partitioned into one chain per sitting plus a global chain, and still catches tampering.

Sittings are driven through item_bank.delivery, so the events are the ones production writes. The
tampering tests work on a copy of one SQLite database holding two finished sittings (A finished before B,
so B's closing seal is the newest global event) and one sitting C in progress with three answers.
"""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import sessionmaker

from item_bank import audit, delivery
from item_bank.audit import GENESIS, GLOBAL, SEAL_KIND, verify_chain
from migrations import alembic_config, upgrade
from storage import AuditEvent, Candidate, Item, Response, Sitting, SittingArea
from storage.db import Base, make_engine, make_session_factory, transaction

EXAM = "social-media-frontline"


# ---------------------------------------------------------------- driving sittings


def new_sitting(factory: sessionmaker, email: str) -> str:
    with transaction(factory) as db:
        candidate = Candidate(name="Audit Tester", email=email)
        db.add(candidate)
        db.flush()
        return delivery.start_sitting(db, candidate_id=candidate.id, exam_id=EXAM).id


def answer(factory: sessionmaker, sid: str, *, correct: bool = True) -> delivery.AnswerOutcome:
    with transaction(factory) as db:
        presented = delivery.current_item(db, sid)
        assert presented is not None, "the sitting has no item to answer"
        key = db.get(Item, delivery.get_sitting(db, sid).pending_item_id).key_index
        choice = delivery.position_shown(db, sid, key if correct else (key + 1) % len(presented.options))
    return delivery.submit_answer(factory, sid, seq=presented.seq, item_ref=presented.item_ref, choice=choice)


def finish(factory: sessionmaker, sid: str) -> None:
    for n in range(100):
        if answer(factory, sid, correct=n % 3 != 2).finished:
            return
    raise AssertionError("the exam did not finish within 100 answers")


def chain_events(db, chain: str) -> list[AuditEvent]:
    return list(db.execute(select(AuditEvent).where(AuditEvent.chain == chain)
                           .order_by(AuditEvent.chain_seq)).scalars())


def seals_of(db, chain: str) -> list[AuditEvent]:
    return list(db.execute(select(AuditEvent).where(AuditEvent.kind == SEAL_KIND, AuditEvent.subject == chain))
                .scalars())


def problems(factory: sessionmaker) -> list[str]:
    with transaction(factory) as db:
        return verify_chain(db).problems


# ---------------------------------------------------------------- chains on both backends


def test_each_sitting_has_its_own_contiguous_chain_and_a_closing_seal(database_url):
    factory = make_session_factory(make_engine(database_url))
    sittings = [new_sitting(factory, f"chain{n}@example.com") for n in range(3)]
    for _ in range(2):  # interleaved, as concurrent learners would
        for sid in sittings:
            answer(factory, sid)
    finish(factory, sittings[0])
    finish(factory, sittings[1])  # sittings[2] stays in progress

    with transaction(factory) as db:
        for sid in sittings:
            chain = f"session:{sid}"
            events = chain_events(db, chain)
            answered = db.execute(select(func.count()).select_from(Response)
                                  .where(Response.session_id == sid)).scalar()
            assert [e.chain_seq for e in events] == list(range(1, len(events) + 1))
            assert [e.prev_hash for e in events] == [GENESIS] + [e.hash for e in events[:-1]]
            assert {e.subject for e in events} == {chain}
            assert [e.kind for e in events[:1 + answered]] == ["exam.start"] + ["exam.answer"] * answered
            assert [e.data["seq"] for e in events[1:1 + answered]] == list(range(1, answered + 1))
            finished = db.get(Sitting, sid).state == "completed"
            assert [e.kind for e in events[1 + answered:]] == (["exam.finish"] if finished else [])
            seals = seals_of(db, chain)
            if finished:
                assert len(seals) == 1 and seals[0].chain == GLOBAL
                assert seals[0].data == {"chain": chain, "events": len(events), "head": events[-1].hash}
            else:
                assert seals == []
        # Nothing about a sitting is on the global chain except the seals.
        assert db.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.chain == GLOBAL, AuditEvent.subject.like("session:%"),
            AuditEvent.kind != SEAL_KIND)).scalar() == 0
        global_seqs = db.execute(select(AuditEvent.chain_seq).where(AuditEvent.chain == GLOBAL)
                                 .order_by(AuditEvent.chain_seq)).scalars().all()
        assert global_seqs == list(range(1, len(global_seqs) + 1))
        report = verify_chain(db)
        total = db.execute(select(func.count()).select_from(AuditEvent)).scalar()
    assert report.ok, report.problems
    assert report.checked == total and report.chains == 1 + len(sittings)


def test_models_match_the_migrations_for_the_audit_table(empty_database_url):
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if "audit_events" in repr(d)] == []


# ---------------------------------------------------------------- tampering (SQLite)


@dataclass
class Trail:
    factory: sessionmaker
    a: str  # finished first
    b: str  # finished last: its seal is the newest global event
    c: str  # in progress, three answers


@pytest.fixture(scope="module")
def trail_template(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("trail") / "trail.sqlite"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    a, b, c = (new_sitting(factory, f"{name}@example.com") for name in "abc")
    for _ in range(3):
        for sid in (a, b, c):
            answer(factory, sid)
    finish(factory, a)
    finish(factory, b)
    assert not problems(factory)
    engine.dispose()
    return path, a, b, c


@pytest.fixture
def trail(trail_template, tmp_path):
    template, a, b, c = trail_template
    path = tmp_path / "trail.sqlite"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield Trail(make_session_factory(engine), a, b, c)
    engine.dispose()


def test_altering_any_event_is_detected(trail):
    with transaction(trail.factory) as db:
        ids = db.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars().all()
    assert len(ids) > 100
    for event_id in ids:
        with transaction(trail.factory) as db:
            original = db.get(AuditEvent, event_id).actor
            db.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(actor="forged"))
        found = problems(trail.factory)
        assert any(p.startswith(f"event {event_id} (") and "content does not match its hash" in p for p in found), \
            (event_id, found)
        with transaction(trail.factory) as db:
            db.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(actor=original))
    assert problems(trail.factory) == []


def test_deleting_a_middle_event_is_detected(trail):
    chain = f"session:{trail.a}"
    with transaction(trail.factory) as db:
        events = chain_events(db, chain)
        removed, after = events[2], events[3]  # the answer to seq 2, and the one after it
        db.delete(removed)
    found = problems(trail.factory)
    assert f"event {after.id} ({chain} #4): 1 event(s) missing before it in its chain (records removed)" in found
    assert any(p.startswith(f"response {trail.a} #2: no exam.answer event") for p in found)


def test_renumbering_chain_seq_to_hide_a_deletion_breaks_the_links(trail):
    """chain_seq is not hashed; closing the gap still leaves a successor pointing at the removed event."""
    chain = f"session:{trail.c}"
    with transaction(trail.factory) as db:
        events = chain_events(db, chain)
        db.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
        for event in events[2:]:
            db.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(chain_seq=event.chain_seq - 1))
        db.execute(delete(Response).where(Response.session_id == trail.c, Response.seq == 1))
    assert problems(trail.factory) == [
        f"event {events[2].id} ({chain} #2): previous-hash link broken (a record before it was removed or changed)"]


def test_deleting_the_tail_of_a_finished_chain_is_detected(trail):
    """Removing the last answer with its response and the exam.finish leaves only the seal to notice."""
    chain = f"session:{trail.a}"
    with transaction(trail.factory) as db:
        events = chain_events(db, chain)
        last_answer, finish_event = events[-2], events[-1]
        assert (last_answer.kind, finish_event.kind) == ("exam.answer", "exam.finish")
        db.execute(delete(AuditEvent).where(AuditEvent.id.in_([last_answer.id, finish_event.id])))
        db.execute(delete(Response).where(Response.session_id == trail.a, Response.seq == last_answer.data["seq"]))
        seal = seals_of(db, chain)[0]
    found = problems(trail.factory)
    assert len(found) == 1, found
    assert found[0].startswith(f"chain {chain}: does not match its closing seal (event {seal.id}: "
                               f"{len(events)} events")
    assert found[0].endswith(f"events at its tail were removed or changed (it now ends at seq {len(events) - 2})")


def test_deleting_a_whole_finished_chain_is_detected(trail):
    """Even with the sitting and its responses gone too, the global chain's seal remembers it."""
    chain = f"session:{trail.a}"
    with transaction(trail.factory) as db:
        count = len(chain_events(db, chain))
        seal = seals_of(db, chain)[0]
        db.execute(delete(AuditEvent).where(AuditEvent.chain == chain))
        db.execute(delete(Response).where(Response.session_id == trail.a))
        db.execute(delete(SittingArea).where(SittingArea.sitting_id == trail.a))
        db.execute(delete(Sitting).where(Sitting.id == trail.a))
    assert problems(trail.factory) == [
        f"chain {chain}: closed by event {seal.id} with {count} events, but none remain (the whole chain was removed)"]


def test_deleting_the_newest_seal_and_the_finish_it_sealed_is_detected(trail):
    """The newest global event has no successor; the completed sitting still expects a sealed chain."""
    chain = f"session:{trail.b}"
    with transaction(trail.factory) as db:
        seal = seals_of(db, chain)[0]
        newest = db.execute(select(func.max(AuditEvent.chain_seq)).where(AuditEvent.chain == GLOBAL)).scalar()
        assert seal.chain_seq == newest
        db.execute(delete(AuditEvent).where(AuditEvent.id.in_([seal.id, chain_events(db, chain)[-1].id])))
    assert problems(trail.factory) == [
        f"sitting {trail.b}: completed, but its chain has no closing seal (its exam.finish or seal event was removed)"]


def test_deleting_a_response_is_detected(trail):
    with transaction(trail.factory) as db:
        event = [e for e in chain_events(db, f"session:{trail.c}") if e.kind == "exam.answer"][1]
        db.execute(delete(Response).where(Response.session_id == trail.c, Response.seq == 2))
    assert problems(trail.factory) == [
        f"event {event.id}: exam.answer for session:{trail.c} seq 2 has no stored response "
        f"(response removed, or event forged)"]


def test_changing_a_stored_answer_is_detected(trail):
    with transaction(trail.factory) as db:
        response = db.execute(select(Response).where(Response.session_id == trail.c, Response.seq == 3)).scalar_one()
        response.choice += 1
        event = [e for e in chain_events(db, f"session:{trail.c}") if e.kind == "exam.answer"][2]
    assert problems(trail.factory) == [
        f"response {trail.c} #3: differs from its exam.answer event {event.id} (recorded answer altered)"]


def test_changing_the_order_an_answer_was_shown_in_is_detected(trail):
    """The order is what makes the position a learner clicked mean an option: rewriting it is caught."""
    with transaction(trail.factory) as db:
        response = db.execute(select(Response).where(Response.session_id == trail.c, Response.seq == 2)).scalar_one()
        assert sorted(response.option_order) == list(range(len(response.option_order)))
        response.option_order = response.option_order[::-1]
        event = [e for e in chain_events(db, f"session:{trail.c}") if e.kind == "exam.answer"][1]
    assert problems(trail.factory) == [
        f"response {trail.c} #2: differs from its exam.answer event {event.id} (recorded answer altered)"]


def _forge_answer(db, chain: str, subject: str, seq: int, item: Item, choice: int) -> AuditEvent:
    """What someone who knows the algorithm would write: a correctly linked and hashed event."""
    head = audit._append(db, chain, actor="learner", kind="exam.answer", subject=subject,
                         data={"seq": seq, "item": item.external_id, "version": item.version, "choice": choice,
                               "scored": True})
    return db.execute(
        select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.chain_seq == head.seq)
    ).scalar_one()


def test_forged_answer_at_the_tail_of_a_sitting_in_progress_is_detected(trail):
    chain = f"session:{trail.c}"
    with transaction(trail.factory) as db:
        item = db.get(Item, db.get(Sitting, trail.c).pending_item_id)
        forged = _forge_answer(db, chain, chain, 4, item, item.key_index)
    assert problems(trail.factory) == [
        f"event {forged.id}: exam.answer for {chain} seq 4 has no stored response (response removed, or event forged)"]


def test_forged_answer_after_a_finished_chain_is_detected_even_with_a_forged_response(trail):
    chain = f"session:{trail.a}"
    with transaction(trail.factory) as db:
        seq = db.execute(select(func.max(Response.seq)).where(Response.session_id == trail.a)).scalar() + 1
        item = db.execute(select(Item).where(Item.is_current.is_(True)).limit(1)).scalar_one()
        _forge_answer(db, chain, chain, seq, item, 0)
        db.add(Response(session_id=trail.a, seq=seq, item_id=item.id, choice=0, score=0))
        seal = seals_of(db, chain)[0]
    assert problems(trail.factory) == [f"chain {chain}: 1 event(s) appended after its closing seal (event {seal.id})"]


def test_forged_answer_on_the_global_chain_is_detected_even_with_a_forged_response(trail):
    """The global chain's newest event has no successor, so a sitting's answers must be on its own chain."""
    chain = f"session:{trail.c}"
    with transaction(trail.factory) as db:
        row = db.get(Sitting, trail.c)
        item = db.get(Item, row.pending_item_id)
        forged = _forge_answer(db, GLOBAL, chain, row.pending_seq, item, item.key_index)
        db.add(Response(session_id=trail.c, seq=row.pending_seq, item_id=item.id, choice=item.key_index, score=1))
    assert problems(trail.factory) == [
        f"event {forged.id}: exam.answer for {chain} seq 4 is outside the sitting's chain (event forged)"]


def test_sitting_without_audit_trail_is_detected(trail):
    with transaction(trail.factory) as db:
        db.execute(delete(AuditEvent).where(AuditEvent.chain == f"session:{trail.c}"))
        db.execute(delete(Response).where(Response.session_id == trail.c))
    assert problems(trail.factory) == [
        f"sitting {trail.c}: no exam.start audit event (a sitting without an audit trail)"]


def test_a_seal_cannot_be_recorded_by_callers(trail):
    with transaction(trail.factory) as db, pytest.raises(ValueError):
        audit.record(db, actor="x", kind=SEAL_KIND, subject=f"session:{trail.c}")


# ---------------------------------------------------------------- locking (PostgreSQL)


@pytest.mark.postgres
def test_answers_and_starts_do_not_take_the_global_lock(postgres_prepared_url):
    """Another connection holds the global chain's advisory lock: sittings still start and answer."""
    engine = make_engine(postgres_prepared_url)
    factory = make_session_factory(engine)
    first, second = (new_sitting(factory, f"lock{n}@example.com") for n in range(2))
    with transaction(factory) as db:
        late = Candidate(name="Late", email="late@example.com")
        db.add(late)
        db.flush()
        late_id = late.id

    def start_late() -> str:
        with transaction(factory) as db:
            return delivery.start_sitting(db, candidate_id=late_id, exam_id=EXAM).id

    def global_event() -> None:
        with transaction(factory) as db:
            audit.record(db, actor="test", kind="test.global", subject="exam:x")

    holder = psycopg.connect(postgres_prepared_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    pool = ThreadPoolExecutor(max_workers=4)
    blocked = None
    try:
        holder.execute(f"SELECT pg_advisory_lock({audit.GLOBAL_LOCK_KEY})")
        answers = [pool.submit(answer, factory, sid) for sid in (first, second)]
        started = pool.submit(start_late)
        for future in answers:
            assert not future.result(timeout=30).finished
        pool.submit(answer, factory, started.result(timeout=30)).result(timeout=30)
        # Control: the lock is really held, and a global-chain append does wait for it.
        blocked = pool.submit(global_event)
        with pytest.raises(FutureTimeout):
            blocked.result(timeout=2)
    finally:
        holder.close()  # releases the lock
        pool.shutdown(wait=True)
    try:
        blocked.result(timeout=0)
        with transaction(factory) as db:
            report = verify_chain(db)
    finally:
        engine.dispose()
    assert report.ok, report.problems


# ---------------------------------------------------------------- migration 0006


LEGACY_EVENTS = sa.Table(  # audit_events as revision 0005 knew it
    "audit_events", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("actor", sa.String),
    sa.Column("kind", sa.String),
    sa.Column("subject", sa.String),
    sa.Column("data", sa.JSON),
    sa.Column("prev_hash", sa.String),
    sa.Column("hash", sa.String),
)


def test_migration_0006_turns_a_single_chain_into_the_global_chain(database_url):
    """A trail written before 0006 (one chain, sittings' events included) verifies after the upgrade,
    and a sitting that was in progress across the upgrade finishes on a chain of its own."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    done, running = new_sitting(factory, "done@example.com"), new_sitting(factory, "running@example.com")
    finish(factory, done)
    answer(factory, running)
    answer(factory, running)
    engine.dispose()

    command.downgrade(alembic_config(database_url), "0005")
    engine = make_engine(database_url)
    with engine.begin() as conn:  # rewrite the trail as the old code wrote it: one chain in id order
        conn.execute(delete(LEGACY_EVENTS).where(LEGACY_EVENTS.c.kind == SEAL_KIND))
        prev = GENESIS
        for row in conn.execute(select(LEGACY_EVENTS).order_by(LEGACY_EVENTS.c.id)).all():
            digest = audit._digest(prev, audit._timestamp(row.at), row.actor, row.kind, row.subject, row.data)
            conn.execute(update(LEGACY_EVENTS).where(LEGACY_EVENTS.c.id == row.id).values(prev_hash=prev, hash=digest))
            prev = digest
        legacy_ids = conn.execute(select(LEGACY_EVENTS.c.id).order_by(LEGACY_EVENTS.c.id)).scalars().all()
    engine.dispose()

    upgrade(database_url, "0006")
    upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as db:
        rows = db.execute(select(AuditEvent.id, AuditEvent.chain, AuditEvent.chain_seq).order_by(AuditEvent.id)).all()
        assert rows == [(event_id, GLOBAL, n) for n, event_id in enumerate(legacy_ids, start=1)]
        report = verify_chain(db)
    assert report.ok and report.checked == len(legacy_ids) and report.chains == 1, report.problems

    finish(factory, running)
    with transaction(factory) as db:
        chain = f"session:{running}"
        events = chain_events(db, chain)
        assert events[0].kind == "exam.answer" and events[0].data["seq"] == 3 and events[-1].kind == "exam.finish"
        assert seals_of(db, chain)[0].data["head"] == events[-1].hash
        report = verify_chain(db)
    engine.dispose()
    assert report.ok, report.problems
