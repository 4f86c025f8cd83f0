"""Deciding an answer: from the sitting as read, what the answer stores and where it leaves the sitting.

One function for both attempts of answering.py. `decide` changes nothing in the database (it may read
the stored answers and, through caches, the pool and item texts); it changes `row` to the sitting as the
answer leaves it and says what else to write. Unlocked (the optimistic attempt), it decides only the
usual answer, one that a single statement can write, and says NeedsLock for anything else before doing
work that would be lost.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from engine import AdaptiveTest
from item_bank.delivery.engine_sessions import cache, pool_of, replay
from item_bank.delivery.errors import Conflict, Invalid
from item_bank.delivery.finishing import finish
from item_bank.delivery.presentation import option_order
from item_bank.delivery.rows import ReadSitting, SittingRow, StoredAnswer, Version, version
from item_bank.delivery.starting import pretest_plan
from item_bank.delivery.statements import stored_answers
from item_bank.delivery.timing import end_at_time_limit, is_overdue
from item_bank.runtime import RuntimePool, item_content
from storage import utcnow


class Answer(NamedTuple):
    seq: int
    item_ref: str
    choice: int


def checked_answer(seq: Any, item_ref: Any, choice: Any) -> Answer:
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise Invalid("'seq' must be an integer (the sequence number of the item being answered)")
    if not isinstance(item_ref, str) or not item_ref:
        raise Invalid("'item_id' must be the id of the item being answered")
    if isinstance(choice, bool) or not isinstance(choice, int):
        raise Invalid("'choice' must be the integer index of the chosen option")
    return Answer(seq, item_ref, choice)


class Recorded(NamedTuple):
    """The answer counts: insert `response`, write the row (advanced, or finished) and the exam.answer
    event with `event` as its data."""

    response: dict[str, Any]
    event: dict[str, Any]
    session: AdaptiveTest  # the engine session after this answer, to keep once it has committed
    database: str  # the pool's: with the sitting's id, the engine session's key


class Duplicate(NamedTuple):
    """This very answer is stored already (a retry whose first request committed): nothing to write."""

    answered: int


class TimeUp(NamedTuple):
    """The time limit had passed: the answer is not recorded and the row is ended on what was answered
    in time; write it and the exam.finish event."""

    answered: int


class Stale(NamedTuple):
    """A concurrent answer committed after the sitting row was read (always possible on SQLite, whose
    reads run outside the transaction; on PostgreSQL when the row was read without its lock): the stored
    answers are newer than the row, or the write found the sitting moved on (or, from a row this process
    kept, found its time up, its chain head gone or the learner's token no longer good). Nothing was
    written; the next attempt reads afresh."""


class NeedsLock(NamedTuple):
    """The optimistic attempt met an answer one statement cannot write (the last answer, an overdue
    sitting) or one that needs the stored answers to be exact (a retry of an earlier answer)."""

    version: Version | None = None  # the row version `session` is at
    session: AdaptiveTest | None = None  # the engine session before this (last) answer: no replay then


STALE, NEEDS_LOCK = Stale(), NeedsLock()
Decision = Recorded | Duplicate | TimeUp | Stale | NeedsLock


def decide(db: Session, read: ReadSitting, answer: Answer, *, locked: bool,
           resume: NeedsLock | None = None) -> Decision:
    """`resume`: what the optimistic attempt left, used if the row is still at its version."""
    row = read.row
    seq, item_ref, shown = answer  # `shown`: the chosen option's position as this sitting shows them
    stored: list[StoredAnswer] | None = None  # read if needed: the usual answer, engine session kept, needs none
    if seq != row.pending_seq:  # a retry of an earlier answer, or a mistake (or the sitting has ended)
        if not locked:
            return NEEDS_LOCK
        stored = _stored_as_of(db, row)
        if stored is None:
            return STALE
        earlier = next((r for r in stored if r.seq == seq), None)
        if earlier is not None:
            item = item_content(db, earlier.item_id)
            order = option_order(row.seed, seq, item)
            if item.external_id == item_ref and 0 <= shown < len(order) and earlier.choice == order[shown]:
                return Duplicate(len(stored))
            raise Conflict(f"item {seq} was already answered; answers cannot be changed")
    if row.state != "in_progress":
        raise Conflict("this exam has ended; no more answers are accepted")
    if is_overdue(row):
        if not locked:
            return NEEDS_LOCK
        if stored is None:
            stored = _stored_as_of(db, row)
            if stored is None:
                return STALE
        end_at_time_limit(db, row, stored)
        return TimeUp(len(stored))
    pending = item_content(db, row.pending_item_id)
    if seq != row.pending_seq or item_ref != pending.external_id:
        raise Conflict(f"item {item_ref!r} (seq {seq}) is not the item currently presented")
    if not 0 <= shown < len(pending.option_texts):
        raise Invalid(f"'choice' must be between 0 and {len(pending.option_texts) - 1}")
    order = option_order(row.seed, seq, pending)
    choice = order[shown]  # the learner chose a position; the item's written option is what counts
    score = int(choice == pending.key_index)
    plan = pretest_plan(row)
    scored = plan.get(seq) != pending.id  # a seeded pretest item is recorded, never scored
    pool = pool_of(db, row)
    at = version(row)
    engine_session: AdaptiveTest | None
    if resume is not None and resume.session is not None and resume.version == at:
        engine_session = resume.session
    else:
        engine_session = cache.take((pool.database, row.id), at)
    if engine_session is None:
        if stored is None:
            stored = _stored_as_of(db, row)
            if stored is None:
                return STALE
        engine_session = replay(pool, row, [r for r in stored if r.scored])
    if scored:
        position = pool.position(pending.id)
        if engine_session.next_item() != position:
            raise Conflict("the stored session is inconsistent with its responses")  # never expected
        before = None if locked else engine_session.copy()
        engine_session.record(position, score)
        if not locked and engine_session.finished:
            return NeedsLock(at, before)  # the locked attempt goes on from the session as it was
    response = {"session_id": row.id, "seq": seq, "item_id": pending.id, "choice": choice, "option_order": list(order),
                "score": score, "scored": scored, "presented_at": row.presented_at, "answered_at": utcnow()}
    row.theta, row.se = float(engine_session.theta), float(engine_session.se)
    following = _next_item(plan, pool, engine_session, seq + 1)
    if following is not None:
        row.pending_item_id, row.pending_seq, row.presented_at = following, seq + 1, utcnow()
    else:  # the engine has stopped: this answer ends the exam
        if not locked:
            return NEEDS_LOCK
        if stored is None:
            stored = _stored_as_of(db, row)
            if stored is None:
                return STALE
        this_answer = StoredAnswer(seq, pending.id, choice, score, scored)
        finish(row, pool, [r for r in (*stored, this_answer) if r.scored], engine_session.decision,
               engine_session.stop_reason)
    event = {"seq": seq, "item": pending.external_id, "version": pending.version, "choice": choice,
             "order": list(order), "scored": scored}
    return Recorded(response, event, engine_session, pool.database)


def _stored_as_of(db: Session, row: SittingRow) -> list[StoredAnswer] | None:
    """The sitting's stored answers, or None if they are newer than `row` (Stale). The answer being
    decided is written last, so they never include it."""
    stored = stored_answers(db, row.id)
    if row.pending_seq is not None and stored and stored[-1].seq >= row.pending_seq:
        return None
    return stored


def _next_item(plan: dict[int, int], pool: RuntimePool, engine_session: AdaptiveTest, seq: int) -> int | None:
    """The item to present at `seq`: a seeded pretest item, else the engine's choice; None once the
    engine has stopped."""
    planned = plan.get(seq)
    if planned is not None and not engine_session.finished:
        return planned
    position = engine_session.next_item()
    return None if position is None else int(pool.item_ids[position])
