"""Answering: an optimistic attempt (PostgreSQL) and then locked ones, each deciding the answer with
scoring.decide and writing what it decided.

The stored responses are the truth: a sitting goes on from the engine session this process kept at its
previous answer, or from a replay of its stored answers, so any worker can take any answer and a restart
loses nothing acknowledged; `(session_id, seq)` being unique makes a repeated or racing answer count once.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine import AdaptiveTest
from item_bank import accounts, audit
from item_bank.delivery.engine_sessions import cache
from item_bank.delivery.errors import Conflict, NotFound, NotSignedIn
from item_bank.delivery.finishing import record_finish
from item_bank.delivery.rows import ADVANCED, ReadSitting, SittingRow
from item_bank.delivery.scoring import STALE, Duplicate, NeedsLock, Recorded, Stale, TimeUp, checked_answer, decide
from item_bank.delivery.statements import (
    INSERT_RESPONSE,
    WRITE_ANSWER_PG,
    WRITE_LEARNER_ANSWER_PG,
    read_sitting,
    write_sitting,
)
from item_bank.delivery.timing import DEADLINE_GRACE
from item_bank.delivery.views import AnswerOutcome, current_view, view
from item_bank.runtime import database_key
from storage import utcnow
from storage.db import autocommit, transaction


class Sent(NamedTuple):
    """An answer as the request sent it (checked once the sitting is read, so an unknown sitting is
    NotFound whatever came with it)."""

    session_id: str
    seq: Any
    item_ref: Any
    choice: Any
    actor: str
    token_digest: str | None


class Advanced(NamedTuple):
    """What an answer that moved the sitting on leaves for the next one (EngineSessions.keep's arguments)."""

    key: tuple[str, str]
    session: AdaptiveTest
    row: SittingRow
    head: audit.ChainHead


class Answered(NamedTuple):
    outcome: AnswerOutcome
    advanced: Advanced | None = None  # kept once the attempt has committed


Attempt = Answered | Stale | NeedsLock


def submit_answer(factory: sessionmaker[Session], session_id: str, *, seq: Any, item_ref: Any, choice: Any,
                  actor: str = "learner", learner_token: str | None = None) -> AnswerOutcome:
    """Record one answer exactly once, even when two requests race to submit it. `choice` is the position of
    the chosen option as the learner was shown it (delivery.presentation); the response stores the option.

    With `learner_token` (the learner's session token, checked in the same statement that reads the
    sitting), a sitting of anyone but the token's owner is reported as not found and the owner is the
    actor; a token that is not live is NotSignedIn.
    """
    digest = None
    if learner_token is not None:
        digest = accounts.learner_token_digest(learner_token)
        if digest is None:
            raise NotSignedIn("sign in first")
    sent = Sent(session_id, seq, item_ref, choice, actor, digest)
    resume = None
    if factory.kw["bind"].dialect.name == "postgresql":
        tried = _optimistic_attempt(factory, sent)
        if isinstance(tried, Answered):
            return _settled(tried)
        resume = tried if isinstance(tried, NeedsLock) else None
    for _ in range(3):
        tried = _locked_attempt(factory, sent, resume)
        if isinstance(tried, Answered):
            return _settled(tried)
        resume = None  # Stale: a concurrent request stored this seq first; the retry sees it as a duplicate
    raise Conflict("the answer could not be recorded because of concurrent submissions; retry")


def _optimistic_attempt(factory: sessionmaker[Session], sent: Sent) -> Attempt:
    """PostgreSQL, in autocommit: the sitting as this process's last answer to it left it, else read
    without its row lock; only the usual answer is decided, and its one write statement, which advances
    the sitting only if no other answer has since (and re-checks the token), is the commit."""
    try:
        with autocommit(factory) as db:
            read = cache.known((database_key(db), sent.session_id), sent.seq)
            if read is None:
                read = _answered_sitting(db, sent, lock=False)
            elif sent.token_digest is not None:  # the owner if the token is the candidate's, which the write checks
                read = read._replace(token_owner=read.row.candidate_id)
            return _attempt(db, read, sent, locked=False)
    except IntegrityError:
        return STALE


def _locked_attempt(factory: sessionmaker[Session], sent: Sent, resume: NeedsLock | None) -> Attempt:
    """In a transaction holding the sitting's row lock (on SQLite the transaction alone): every case is
    decided, so the result is Answered or Stale."""
    try:
        with transaction(factory) as db:
            return _attempt(db, _answered_sitting(db, sent, lock=True), sent, locked=True, resume=resume)
    except IntegrityError:
        return STALE


def _answered_sitting(db: Session, sent: Sent, lock: bool) -> ReadSitting:
    """The sitting with its chain head (locked with `lock`); with a token, only for the token's live owner."""
    try:
        found = read_sitting(db, sent.session_id, lock=lock, token_digest=sent.token_digest)
    except NotFound:
        if sent.token_digest is not None and accounts.owner_of_digest(db, sent.token_digest) is None:
            raise NotSignedIn("sign in first") from None
        raise
    if sent.token_digest is not None:
        if found.token_owner is None:
            raise NotSignedIn("sign in first")
        if found.row.candidate_id != found.token_owner:
            raise NotFound("no such exam session")
    return found


def _attempt(db: Session, read: ReadSitting, sent: Sent, *, locked: bool, resume: NeedsLock | None = None) -> Attempt:
    row, head, learner = read
    actor = sent.actor if learner is None else f"candidate:{learner}"
    decision = decide(db, read, checked_answer(sent.seq, sent.item_ref, sent.choice), locked=locked, resume=resume)
    if isinstance(decision, (Stale, NeedsLock)):
        return decision
    if isinstance(decision, Duplicate):
        # The request that stored it has committed; on SQLite (no row lock) `row` may predate that.
        row = read_sitting(db, row.id).row
        return Answered(AnswerOutcome(duplicate=True, finished=row.state != "in_progress", answered=decision.answered,
                                      view=current_view(db, row, decision.answered), decision=row.decision))
    if isinstance(decision, TimeUp):
        record_finish(db, row, decision.answered, actor, head)
        write_sitting(db, row)
        return Answered(AnswerOutcome(duplicate=False, finished=True, answered=decision.answered, timed_out=True,
                                      view=view(db, row, decision.answered), decision=row.decision))
    answered = sent.seq  # seqs run 1, 2, ... without gaps: this answer's seq is how many are stored
    outcome = AnswerOutcome(duplicate=False, finished=row.state == "completed", answered=answered,
                            view=view(db, row, answered), decision=row.decision)
    # Written last: in an optimistic answer the write is the commit, so nothing may fail after it.
    written = write_answer(db, row, decision, actor, head, sent.token_digest)
    if isinstance(written, Stale):
        return written
    return Answered(outcome, Advanced((decision.database, row.id), decision.session, row, written))


def write_answer(db: Session, row: SittingRow, recorded: Recorded, actor: str, head: audit.ChainHead,
                 token_digest: str | None = None) -> audit.ChainHead | Stale:
    """The response, the sitting as the answer left it and the audit event (plus exam.finish and its seal
    when the answer ended the exam); returns the chain's new head. The sitting's own audit chain needs no
    lock beyond the sitting's row lock (held since the read, or taken by the PostgreSQL statement itself);
    the seal goes on the global chain, which takes PostgreSQL's advisory lock until commit (item_bank.audit).
    The unique (session, seq) and (chain, chain_seq) constraints fire here on a race."""
    subject = f"session:{row.id}"
    if row.state == "in_progress" and db.get_bind().dialect.name == "postgresql":
        event_row, new_head = audit.sitting_event_row(actor=actor, kind="exam.answer", subject=subject,
                                                      data=recorded.event, head=head)
        now = utcnow()
        values = {**{"r_" + k: v for k, v in recorded.response.items()}, "s_sitting_id": row.id,
                  "s_deadline_from": now - DEADLINE_GRACE, **{"s_" + n: getattr(row, n) for n in ADVANCED},
                  **{"a_" + k: v for k, v in event_row.items()}}
        statement = WRITE_ANSWER_PG
        if token_digest is not None:
            statement, values["t_digest"], values["t_now"] = WRITE_LEARNER_ANSWER_PG, token_digest, now
        if not db.connection().execute(statement, values).scalar():
            return STALE
        return new_head
    db.connection().execute(INSERT_RESPONSE, recorded.response)
    write_sitting(db, row)
    head = audit.record(db, actor=actor, kind="exam.answer", subject=subject, head=head, data=recorded.event)
    if row.state == "completed":
        head = record_finish(db, row, recorded.response["seq"], actor, head)
    return head


def _settled(answered: Answered) -> AnswerOutcome:
    if answered.advanced is not None:  # committed: the sitting's next answer can go on from this engine session
        cache.keep(*answered.advanced)
    return answered.outcome
