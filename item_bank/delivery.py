"""Exam delivery: start, present, answer, finish -- the stored responses are the source of truth.

Every call rebuilds the adaptive session from the stored responses (or takes the one the sitting's
previous answer left in this process, after checking that the sitting has not moved on since), so any
worker can serve any request and a restart loses nothing that was acknowledged.
"""
from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, NamedTuple, Sequence, Union

import numpy as np
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from errors import CertamenError, Kind
from engine import AdaptiveSession
from engine.irt import logistic_prob
from item_bank import accounts, audit
from item_bank.db import autocommit, transaction
from item_bank.exposure import pinned_parameters
from item_bank.integrity import IntegrityRules, RuleViolation, check_may_start
from item_bank.models import (ApiToken, AuditEvent, Candidate, Exam, ExamSession, ExposureControl, Item, ParameterSet,
                               Response, as_utc, utcnow)
from item_bank.runtime import (RuntimePool, database_key, engine_config, item_content, pool_for, remember_snapshot,
                               session_config, sitting_snapshot, snapshot_digest)


class DeliveryError(CertamenError):
    """A request the exam cannot honour."""

    kind = Kind.MALFORMED


class NotFound(DeliveryError):
    kind = Kind.NOT_FOUND


class Conflict(DeliveryError):
    kind = Kind.CONFLICT


class Invalid(DeliveryError):
    kind = Kind.INVALID


class NotSignedIn(DeliveryError):
    """The learner session token that came with an answer is not live (signed out, expired, unknown)."""

    kind = Kind.UNAUTHENTICATED


@dataclass
class PresentedItem:
    """What a learner may see of an item: never the key, rationales or parameters."""

    session_id: str
    seq: int
    item_ref: str
    scenario: str
    question: str
    options: list[str]
    answered: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "item_id": self.item_ref,
            "scenario": self.scenario,
            "question": self.question,
            "options": [{"index": n, "text": t} for n, t in enumerate(self.options)],
        }


@dataclass
class SessionView:
    """What a learner's client is told about a sitting: never keys, parameters or the estimate."""

    session_id: str
    exam_id: str
    state: str
    answered: int
    item: PresentedItem | None
    deadline: Any
    seconds_left: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "exam_id": self.exam_id,
            "state": self.state,
            "answered": self.answered,
            "item": self.item.as_dict() if self.item else None,
            "deadline": self.deadline.isoformat() if self.deadline and self.state == "in_progress" else None,
            "seconds_left": self.seconds_left,
        }


@dataclass
class AnswerOutcome:
    duplicate: bool
    finished: bool
    answered: int
    view: SessionView  # the sitting after this answer, read in the same transaction
    timed_out: bool = False  # the time limit had passed: the answer was not recorded, the sitting closed
    decision: str | None = None  # pass | fail once the sitting has ended


# Answers that arrive this late after the deadline still count: the page was submitted in time.
DEADLINE_GRACE = dt.timedelta(seconds=10)


@dataclass
class SessionResult:
    session_id: str
    exam_id: str
    exam_title: str
    candidate_name: str
    decision: str
    items_answered: int
    finished_at: Any
    areas: list[dict[str, Any]]
    provisional: bool = False  # scored with provisional (not field-calibrated) parameters
    timed_out: bool = False  # ended by the exam's time limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "exam_id": self.exam_id,
            "exam_title": self.exam_title,
            "decision": self.decision,
            "passed": self.decision == "pass",
            "items_answered": self.items_answered,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "areas": self.areas,
            "provisional_parameters": self.provisional,
            "timed_out": self.timed_out,
        }


class StoredAnswer(NamedTuple):
    """A stored response as delivery reads it: plain values, not an ORM object (it is never changed)."""

    seq: int
    item_id: int
    choice: int
    score: int
    scored: bool


# The answer path's statements are built once, with bind parameters: building a statement costs
# about as much Python time as executing a compiled (cached) one.
_STORED_ANSWERS = (
    select(Response.seq, Response.item_id, Response.choice, Response.score, Response.scored)
    .where(Response.session_id == bindparam("session_id")).order_by(Response.seq)
)
_INSERT_RESPONSE = insert(Response.__table__)


def _stored_answers(db: Session, session_id: str) -> list[StoredAnswer]:
    """The sitting's responses in seq order, read as Core rows (several times cheaper than ORM objects)."""
    rows = db.connection().execute(_STORED_ANSWERS, {"session_id": session_id})
    return [StoredAnswer._make(r) for r in rows]


@dataclass
class _Sitting:
    """An exam_sessions row as the answer path reads and writes it: a Core SELECT (with the row lock
    unless the answer is optimistic) and one Core UPDATE of what the answer changed. The ORM's load and
    unit-of-work flush of the row cost more Python time than the rest of writing an answer. Everything
    else uses ExamSession."""

    id: str
    candidate_id: int
    exam_id: str
    parameter_set_id: int
    seed: int
    cat_config: dict[str, Any]
    deadline: dt.datetime | None
    state: str
    pending_item_id: int | None
    pending_seq: int | None
    presented_at: dt.datetime | None
    theta: float | None
    se: float | None
    decision: str | None
    stop_reason: str | None
    area_feedback: list[dict[str, Any]] | None
    finished_at: dt.datetime | None


# What an answer changes in the row: the next item and the estimate; finishing also sets the outcome.
_ADVANCED = ("pending_item_id", "pending_seq", "presented_at", "theta", "se")
_FINISHED = _ADVANCED + ("state", "finished_at", "decision", "stop_reason", "area_feedback")

_sittings = ExamSession.__table__
_tokens = ApiToken.__table__
# The sitting, the head of its audit chain and the learner token sent with the answer, if it is an
# unrevoked one (a NULL-extended row otherwise): one statement instead of three.
_READ_COLUMNS = [f.name for f in fields(_Sitting) if f.name != "cat_config"]  # that comes from sitting_snapshot
_READ_SITTING = (
    select(*(_sittings.c[name] for name in _READ_COLUMNS), *audit.head_columns(bindparam("chain")),
           _tokens.c.candidate_id, _tokens.c.expires_at)
    .select_from(_sittings.outerjoin(_tokens, accounts.unrevoked_learner_token(bindparam("token_digest"))))
    .where(_sittings.c.id == bindparam("session_id"))
)
_LOCK_SITTING = _READ_SITTING.with_for_update(of=_sittings)
_WRITE_SITTING = update(_sittings).where(_sittings.c.id == bindparam("sitting_id"))


def _prefixed(table, prefix: str, names=None) -> dict[str, Any]:
    """Bind parameters `prefix + column` for `names` (default: every column but the generated id)."""
    names = names or [c.name for c in table.c if c.name != "id"]
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in names}


# An answer that does not end the exam writes three rows: its response, the sitting's next item and
# its audit event. On PostgreSQL that is one statement (data-modifying CTEs), so one round trip and
# one execution instead of three. It advances the sitting only if it is still in progress at the
# answered seq, not overdue and the event extends the chain's head as stored, and writes the other two
# rows only if it did: the statement counts the sitting rows it advanced (0: another answer got there
# first, or the time is up). The unique constraints fire the same way.
_ANSWERED_SEQ = bindparam("r_seq", type_=Response.__table__.c.seq.type)
_IN_TIME = or_(_sittings.c.deadline.is_(None),  # not _overdue: the deadline is at most the grace ago
               _sittings.c.deadline >= bindparam("s_deadline_from", type_=_sittings.c.deadline.type))
_EVENT = _prefixed(AuditEvent.__table__, "a_")
_ADVANCE_SITTING = (
    update(_sittings)
    .where(_sittings.c.id == bindparam("s_sitting_id"), _sittings.c.state == "in_progress",
           _sittings.c.pending_seq == _ANSWERED_SEQ, _IN_TIME,
           audit.extends_head(_EVENT["chain"], _EVENT["chain_seq"], _EVENT["prev_hash"]))
    .values(_prefixed(_sittings, "s_", _ADVANCED)).returning(_sittings.c.id).cte("advanced_sitting")
)


def _insert_if_advanced(advance, table, prefix: str):
    values = _prefixed(table, prefix)
    return insert(table).from_select(list(values), select(*values.values()).select_from(advance))


def _write_answer_pg(advance):
    return select(func.count()).select_from(advance).add_cte(
        _insert_if_advanced(advance, Response.__table__, "r_").cte("new_response"),
        _insert_if_advanced(advance, AuditEvent.__table__, "a_").cte("new_event"),
    )


_WRITE_ANSWER_PG = _write_answer_pg(_ADVANCE_SITTING)
# The same for a learner's answer: it also re-checks, in the statement, that the token sent is live and
# belongs to the sitting's candidate. An answer to a sitting this process knows (_EngineSessions.known)
# skips the read, so this is where its token is checked.
_WRITE_LEARNER_ANSWER_PG = _write_answer_pg(
    _ADVANCE_SITTING.element.where(
        select(_tokens.c.id).where(accounts.unrevoked_learner_token(bindparam("t_digest")),
                                   _tokens.c.candidate_id == _sittings.c.candidate_id,
                                   _tokens.c.expires_at > bindparam("t_now", type_=_tokens.c.expires_at.type))
        .exists()
    ).cte("advanced_sitting")
)


class _Read(NamedTuple):
    row: _Sitting
    head: audit.ChainHead
    token_owner: int | None  # the candidate the token sent belongs to, if it is live


def _read_sitting(db: Session, session_id: str, *, lock: bool = False, token_digest: str | None = None) -> _Read:
    """The sitting, the head of its audit chain and the owner of the learner token `token_digest`,
    read in one statement; with `lock`, the row stays locked until commit. Every round trip saved
    here is one per answer (see item_bank.audit on the head)."""
    _check_session_id(session_id)
    found = db.connection().execute(_LOCK_SITTING if lock else _READ_SITTING, {
        "session_id": session_id, "chain": audit.SESSION_PREFIX + session_id, "token_digest": token_digest,
    }).first()
    if found is None:
        raise NotFound("no such exam session")
    *columns, head_seq, head_hash, token_candidate, token_expires = found
    row = _Sitting(**dict(zip(_READ_COLUMNS, columns)), cat_config=sitting_snapshot(db, session_id))
    return _Read(row, audit.ChainHead.of(head_seq, head_hash),
                 accounts.live_owner(token_candidate, token_expires))


def _write_sitting(db: Session, row: _Sitting) -> None:
    """One UPDATE of the columns the answer changed, no others (writing area_feedback's None before
    the end would store a JSON null where the ORM leaves SQL NULL)."""
    names = _FINISHED if row.state != "in_progress" else _ADVANCED
    db.connection().execute(_WRITE_SITTING, {"sitting_id": row.id, **{n: getattr(row, n) for n in names}})


# A sitting as delivery reads it: the ORM row, or the answer path's own copy.
AnySitting = Union[ExamSession, _Sitting]


# ---------------------------------------------------------------- engine glue

def _replay(pool: RuntimePool, row: AnySitting, responses: Sequence[StoredAnswer]) -> AdaptiveSession:
    state = {
        "version": 1,
        "seed": row.seed,
        "items": [pool.position(r.item_id) for r in responses],
        "scores": [r.score for r in responses],
    }
    return AdaptiveSession.from_state(pool.bank, engine_config(pool, row.cat_config, sitting=row.id), state)


def replay(pool: RuntimePool, row: Any, scored: Sequence[StoredAnswer]) -> AdaptiveSession:
    """The engine session after a sitting's scored answers, rebuilt as every answer rebuilds it (`row` needs
    id, seed and cat_config); a stored item the replay would not have chosen raises ValueError."""
    return _replay(pool, row, scored)


def _pool_of(db: Session, row: AnySitting) -> RuntimePool:
    return pool_for(db, row.parameter_set_id, row.cat_config["areas"])


# Which answers a sitting row has taken: only committing an answer moves the pending item, and it
# stamps `presented_at` anew each time (to the microsecond), so equal versions mean equal responses.
_Version = tuple[Any, Any]


def _version(row: AnySitting) -> _Version:
    return row.pending_seq, None if row.presented_at is None else as_utc(row.presented_at)


class _Kept(NamedTuple):
    version: _Version  # the row's
    session: AdaptiveSession
    row: _Sitting  # the sitting row as the answer (or start) that kept the entry committed it
    head: audit.ChainHead  # ... and the head of its audit chain then


class _EngineSessions:
    """Engine sessions of the sittings this process answered last, so that the next answer need neither
    read the stored responses nor replay them (a selection step per answer so far: most of an answer's
    engine time). A learner's requests usually reach the same worker over one keep-alive connection, so
    most answers find their sitting here; the others read and replay as before.

    Each entry also keeps the sitting row and chain head as that answer left them. On PostgreSQL the next
    answer to the pending item starts from those (`known`) instead of reading them: its write statement
    advances the sitting only if it is still in progress at that seq and not overdue (and the learner's
    token is live and the candidate's), so a row that has moved on since, or a token revoked since,
    writes nothing and the answer is taken the long way; so does a chain head that is no longer the
    chain's (audit.extends_head).

    An entry is used only if the sitting row (as the answer read it) still has the version it had when
    the entry was kept, right after its answer committed: no answer has been stored since, so the entry
    has recorded exactly the stored scored responses. The engine session is a deterministic function of
    (bank, config, seed, responses), and a sitting's bank, config and seed never change, so it is the
    session a replay would build. `take` removes the entry, so two requests never share one; `keep` puts
    it back once the answer that advanced it has committed (a start keeps the session it began with).
    """

    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], version: _Version) -> AdaptiveSession | None:
        with self._lock:
            kept = self._entries.pop(key, None)
        return kept.session if kept is not None and kept.version == version else None

    def known(self, key: tuple[str, str], seq: int) -> _Read | None:
        """A copy of the kept row (for the answer to change) and its head, if its pending seq is `seq`."""
        kept = self._entries.get(key)
        if kept is None or kept.row.pending_seq != seq:
            return None
        return _Read(replace(kept.row), kept.head, None)

    def keep(self, key: tuple[str, str], session: AdaptiveSession, row: AnySitting, head: audit.ChainHead) -> None:
        """Takes `row` over (the caller is done with it; `known` hands out copies), or a copy of an ORM row."""
        if session.finished:
            return
        if isinstance(row, ExamSession):
            row = _Sitting(**{f.name: getattr(row, f.name) for f in fields(_Sitting)})
        kept = _Kept(_version(row), session, row, head)
        with self._lock:
            self._entries[key] = kept
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_engine_sessions = _EngineSessions(size=2000)  # a few kB each (arrays over the pool)


def _resume(pool: RuntimePool, row: AnySitting, stored: Callable[[], Sequence[StoredAnswer]]) -> AdaptiveSession:
    """The sitting's engine session after its stored answers: kept from its last answer, else replayed."""
    kept = _engine_sessions.take((pool.database, row.id), _version(row))
    return kept if kept is not None else _replay(pool, row, [r for r in stored() if r.scored])


# ---------------------------------------------------------------- public operations

# What a start reads first, in one statement instead of four: the exam, the active parameter set, the
# exam's exposure-control row under it (loaded into the session's identity map, where
# pinned_parameters' db.get finds it without a query) and the id of the candidate's sitting in progress.
_START_CONTEXT = (
    select(Exam, ParameterSet, ExposureControl,
           select(ExamSession.id).where(ExamSession.candidate_id == bindparam("candidate_id"),
                                        ExamSession.state == "in_progress").limit(1).scalar_subquery())
    .select_from(Exam)
    .outerjoin(ParameterSet, ParameterSet.is_active.is_(True))
    .outerjoin(ExposureControl, and_(ExposureControl.exam_id == Exam.id, ExposureControl.exam_version == Exam.version,
                                     ExposureControl.parameter_set_id == ParameterSet.id))
    .where(Exam.id == bindparam("exam_id"))
)


def start_session(db: Session, *, candidate_id: int, exam_id: str,
                  may_start: Callable[[Session, int, Exam], None] | None = None) -> ExamSession:
    """Start an exam, or return the sitting already in progress (one active sitting per exam).

    `may_start(db, candidate_id, exam)` is a further check a new sitting must pass (it raises to refuse;
    the API passes certs' renewal window for recertification exams); resuming does not call it.
    """
    context = db.execute(_START_CONTEXT, {"exam_id": exam_id, "candidate_id": candidate_id}).one_or_none()
    if context is None or not context[0].is_active:
        raise NotFound(f"no active exam {exam_id!r}")
    exam, params, _exposure, running_id = context
    running = db.get(ExamSession, running_id) if running_id is not None else None
    if running is not None and close_if_overdue(db, running):
        running = None
    if running is not None:
        if running.exam_id == exam_id:
            return running
        raise Conflict(f"finish the exam you have in progress ({running.exam.title}) before starting another")
    rules = IntegrityRules.from_dict(exam.integrity)
    try:
        check_may_start(db, rules, candidate_id=candidate_id, exam_id=exam_id, now=utcnow())
    except RuleViolation as exc:
        raise Conflict(exc.message) from None
    if may_start is not None:
        may_start(db, candidate_id, exam)
    if params is None:
        raise Conflict("the item bank has no published parameters yet")
    seed = secrets.randbelow(2**31 - 1)
    started = utcnow()
    snapshot = {**session_config(exam), **pinned_parameters(db, exam, params.id)}
    snapshot["pretest_plan"] = _seed_pretest_items(db, exam, seed)
    row = ExamSession(
        id=secrets.token_urlsafe(18),
        candidate_id=candidate_id,
        exam_id=exam.id,
        exam_version=exam.version,
        parameter_set_id=params.id,
        seed=seed,
        cat_config=snapshot,
        state="in_progress",
        started_at=started,
        deadline=rules.deadline(started),
    )
    try:
        pool = _pool_of(db, row)
        engine_session = _replay(pool, row, [])
    except (LookupError, ValueError) as exc:
        raise Conflict(f"exam {exam_id!r} cannot be delivered from the current bank: {exc}") from None
    first = engine_session.next_item()
    if first is None:
        raise Conflict("the exam's pool cannot satisfy its rules")
    row.pending_item_id = int(pool.item_ids[first])
    row.pending_seq = 1
    row.presented_at = utcnow()
    db.add(row)
    db.flush()
    # The sitting's id is new, so its chain is empty: no head to look up.
    head = audit.record(db, actor=f"candidate:{candidate_id}", kind="exam.start", subject=f"session:{row.id}",
                        head=audit.EMPTY_CHAIN,
                        data={"exam": exam.id, "exam_version": exam.version, "parameter_set": params.id,
                              # What the decision will be derived from, so that a later change to either shows.
                              "rules": snapshot_digest(snapshot), "parameters": pool.parameters_digest})
    # Kept before the commit, unlike an answer's: if this transaction fails, no sitting ever has this id.
    _engine_sessions.keep((pool.database, row.id), engine_session, row, head)
    remember_snapshot(db, row.id, snapshot)  # for a read of the sitting here later (the last answer's)
    return row


_PRETEST_ITEMS = (select(Item.id).where(Item.is_current.is_(True), Item.status == "pretest",
                                        Item.area.in_(bindparam("areas", expanding=True))).order_by(Item.id))


def _seed_pretest_items(db: Session, exam: Exam, seed: int) -> dict[str, int]:
    """Unscored pretest items (`pretest_max` of them) for this sitting, at random positions before
    the exam can stop.

    They gather the responses that calibrate them onto the bank scale; the learner cannot tell
    them apart and they never count towards the result.
    """
    rate = float(exam.cat_config.get("pretest_rate", 0.0))
    most = int(exam.cat_config.get("pretest_max", 0))
    first_possible_stop = int(exam.cat_config.get("min_length", 1))
    if rate <= 0 or most <= 0 or first_possible_stop < 2:
        return {}
    rng = np.random.default_rng([seed, 7919])
    if rng.random() >= rate:  # `pretest_rate`: the share of sittings that carry pretest items
        return {}  # drawn before the query, so the sittings without pretest items skip it
    candidates = db.execute(_PRETEST_ITEMS, {"areas": list(exam.areas)}).scalars().all()
    if not candidates:
        return {}
    count = min(most, len(candidates), first_possible_stop - 1)
    items = rng.choice(candidates, size=count, replace=False)
    positions = rng.choice(np.arange(2, first_possible_stop + 1), size=count, replace=False)
    return {str(int(p)): int(i) for p, i in zip(sorted(positions), items)}


def _check_session_id(session_id: Any) -> None:
    if not isinstance(session_id, str) or len(session_id) > 64:
        raise NotFound("no such exam session")


def get_session(db: Session, session_id: str, *, for_update: bool = False,
                candidate_id: int | None = None) -> ExamSession:
    """With `candidate_id`, a sitting of anyone else is reported as not found (no hint it exists)."""
    _check_session_id(session_id)
    query = select(ExamSession).where(ExamSession.id == session_id)
    if for_update:
        query = query.with_for_update()
    row = db.execute(query).scalar_one_or_none()
    if row is None or (candidate_id is not None and row.candidate_id != candidate_id):
        raise NotFound("no such exam session")
    return row


def current_item(db: Session, session_id: str) -> PresentedItem | None:
    row = get_session(db, session_id)
    close_if_overdue(db, row)
    return _presented(db, row)


def session_view(db: Session, row: AnySitting, answered: int | None = None) -> SessionView:
    """The sitting as its learner sees it (closing it first if its time is up)."""
    if close_if_overdue(db, row):
        row = get_session(db, row.id)  # as closed (for an ExamSession, the same object)
    return _view(db, row, answered)


def _view(db: Session, row: AnySitting, answered: int | None = None) -> SessionView:
    """The sitting as `row` has it (an answer just accepted in time shows the sitting it left)."""
    if answered is None and row.state == "in_progress" and row.pending_seq is not None:
        answered = row.pending_seq - 1  # seqs run 1, 2, ... without gaps up to the pending item
    if answered is None:
        answered = db.execute(select(func.count()).select_from(Response).where(Response.session_id == row.id)).scalar()
    return SessionView(session_id=row.id, exam_id=row.exam_id, state=row.state, answered=answered,
                       item=_presented(db, row), deadline=row.deadline, seconds_left=seconds_left(row))


def _presented(db: Session, row: AnySitting) -> PresentedItem | None:
    if row.state != "in_progress" or row.pending_item_id is None:
        return None
    item = item_content(db, row.pending_item_id)
    return PresentedItem(
        session_id=row.id,
        seq=row.pending_seq or 0,
        item_ref=item.external_id,
        scenario=item.scenario,
        question=item.question,
        options=list(item.option_texts),
        answered=(row.pending_seq or 1) - 1,
    )


def submit_answer(factory: sessionmaker[Session], session_id: str, *, seq: Any, item_ref: Any, choice: Any,
                  actor: str = "learner", learner_token: str | None = None) -> AnswerOutcome:
    """Record one answer exactly once, even when two requests race to submit it.

    With `learner_token` (the learner's session token, checked in the same statement that reads the
    sitting), a sitting of anyone but the token's owner is reported as not found and the owner is the
    actor; a token that is not live is NotSignedIn.
    """
    digest = None
    if learner_token is not None:
        digest = accounts.learner_token_digest(learner_token)
        if digest is None:
            raise NotSignedIn("sign in first")
    if factory.kw["bind"].dialect.name == "postgresql":
        try:
            with autocommit(factory) as db:
                known = _engine_sessions.known((database_key(db), session_id), seq)
                return _answered(*_submit(db, session_id, seq, item_ref, choice, actor, digest, optimistic=True,
                                          known=known))
        except (IntegrityError, _StaleSitting, _NeedsLock):
            pass  # nothing was written: answer again, holding the sitting's row lock
    for attempt in range(3):
        try:
            with transaction(factory) as db:
                outcome, advanced = _submit(db, session_id, seq, item_ref, choice, actor, digest)
            return _answered(outcome, advanced)
        except (IntegrityError, _StaleSitting):
            # A concurrent request stored this seq first; the retry will see it as a duplicate.
            if attempt == 2:
                raise Conflict("the answer could not be recorded because of concurrent submissions; retry")
    raise AssertionError("unreachable")


def _answered(outcome: AnswerOutcome, advanced: _Advanced | None) -> AnswerOutcome:
    if advanced is not None:  # committed: the sitting's next answer can go on from this engine session
        _engine_sessions.keep(*advanced)
    return outcome


# What an answer that moved the sitting on leaves for the next one: _EngineSessions.keep's arguments.
_Advanced = tuple[tuple[str, str], AdaptiveSession, _Sitting, audit.ChainHead]


class _StaleSitting(Exception):
    """A concurrent answer committed after the sitting row was read without a lock (always so on
    SQLite; on PostgreSQL in an optimistic answer): the stored answers are newer than the row, or the
    write found the sitting advanced (or, from a row this process kept, found its time up, its chain
    head gone or the learner's token no longer good). Nothing was written; the retry reads afresh."""


class _NeedsLock(Exception):
    """An optimistic answer met a case that writes more than one statement (the last answer, an overdue
    sitting) or needs the stored answers to be exact (a retry of an earlier answer)."""


def _validate_answer(seq: Any, item_ref: Any, choice: Any) -> tuple[int, str, int]:
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise Invalid("'seq' must be an integer (the sequence number of the item being answered)")
    if not isinstance(item_ref, str) or not item_ref:
        raise Invalid("'item_id' must be the id of the item being answered")
    if isinstance(choice, bool) or not isinstance(choice, int):
        raise Invalid("'choice' must be the integer index of the chosen option")
    return seq, item_ref, choice


def _answered_sitting(db: Session, session_id: str, token_digest: str | None, lock: bool) -> _Read:
    """The sitting with its chain head (locked with `lock`); with `token_digest`, only for the token's
    live owner."""
    try:
        found = _read_sitting(db, session_id, lock=lock, token_digest=token_digest)
    except NotFound:
        if token_digest is not None and accounts.owner_of_digest(db, token_digest) is None:
            raise NotSignedIn("sign in first") from None
        raise
    if token_digest is not None:
        if found.token_owner is None:
            raise NotSignedIn("sign in first")
        if found.row.candidate_id != found.token_owner:
            raise NotFound("no such exam session")
    return found


def _submit(db: Session, session_id: str, seq: Any, item_ref: Any, choice: Any, actor: str,
            token_digest: str | None, optimistic: bool = False, known: _Read | None = None
            ) -> tuple[AnswerOutcome, _Advanced | None]:
    """The answer's outcome, and what it advanced (for _engine_sessions).

    `optimistic` (PostgreSQL, `db` in autocommit): the sitting is read without its row lock, or taken
    from `known` (as this process's last answer to it left it), and only the usual answer is handled, in
    one write statement that advances the sitting only if no other answer has since (and re-checks the
    token: _StaleSitting otherwise); every other case raises _NeedsLock before writing anything."""
    row, head, learner = known or _answered_sitting(db, session_id, token_digest, lock=not optimistic)
    if known is not None and token_digest is not None:
        learner = row.candidate_id  # if the token is the candidate's, which the write checks
    if learner is not None:
        actor = f"candidate:{learner}"
    seq, item_ref, choice = _validate_answer(seq, item_ref, choice)
    stored: list[StoredAnswer] | None = None

    def stored_answers() -> list[StoredAnswer]:
        """Read only when needed: the usual answer (to the pending item, engine session kept) needs none.
        This answer is written last, so they never include it."""
        nonlocal stored
        if stored is None:
            stored = _stored_answers(db, row.id)
            if row.pending_seq is not None and stored and stored[-1].seq >= row.pending_seq:
                raise _StaleSitting()
        return stored

    if seq != row.pending_seq:  # a retry of an earlier answer, or a mistake (or the sitting has ended)
        if optimistic:
            raise _NeedsLock()
        earlier = next((r for r in stored_answers() if r.seq == seq), None)
        if earlier is not None:
            item = item_content(db, earlier.item_id)
            if item.external_id == item_ref and earlier.choice == choice:
                # The request that stored it has committed; on SQLite (no row lock) `row` may predate that.
                row = _read_sitting(db, row.id).row
                return AnswerOutcome(duplicate=True, finished=row.state != "in_progress", answered=len(stored),
                                     view=session_view(db, row, len(stored)), decision=row.decision), None
            raise Conflict(f"item {seq} was already answered; answers cannot be changed")
    if row.state != "in_progress":
        raise Conflict("this exam has ended; no more answers are accepted")
    if _overdue(row):
        if optimistic:
            raise _NeedsLock()
        answered = len(stored_answers())
        _close_overdue(db, row, stored_answers(), actor, head)
        _write_sitting(db, row)
        return AnswerOutcome(duplicate=False, finished=True, answered=answered, timed_out=True,
                             view=session_view(db, row, answered), decision=row.decision), None
    pending = item_content(db, row.pending_item_id)
    if seq != row.pending_seq or item_ref != pending.external_id:
        raise Conflict(f"item {item_ref!r} (seq {seq}) is not the item currently presented")
    if not 0 <= choice < len(pending.option_texts):
        raise Invalid(f"'choice' must be between 0 and {len(pending.option_texts) - 1}")

    score = int(choice == pending.key_index)
    plan = pretest_plan(row)
    unscored = plan.get(seq) == pending.id  # a seeded pretest item: recorded, never scored
    pool = _pool_of(db, row)
    engine_session = _resume(pool, row, stored_answers)
    if not unscored:
        position = pool.position(pending.id)
        if engine_session.next_item() != position:
            raise Conflict("the stored session is inconsistent with its responses")  # never expected
        unrecorded = engine_session.copy() if optimistic else None
        engine_session.record(position, score)
        if optimistic and engine_session.finished:
            # The last answer is taken again under the lock: from the session as it was, not a replay.
            _engine_sessions.keep((pool.database, row.id), unrecorded, row, head)
            raise _NeedsLock()
    response = {"session_id": row.id, "seq": seq, "item_id": pending.id, "choice": choice, "score": score,
                "scored": not unscored, "presented_at": row.presented_at, "answered_at": utcnow()}
    this_answer = StoredAnswer(seq, pending.id, choice, score, not unscored)
    answered = seq  # seqs run 1, 2, ... without gaps: this answer's seq is how many are stored
    row.theta, row.se = float(engine_session.theta), float(engine_session.se)
    _present_next(row, pool, engine_session, lambda: [*stored_answers(), this_answer], seq + 1)
    if optimistic and row.state != "in_progress":
        raise _NeedsLock()
    outcome = AnswerOutcome(duplicate=False, finished=row.state == "completed", answered=answered,
                            view=_view(db, row, answered), decision=row.decision)
    # Written last: in an optimistic answer the write is the commit, so nothing may fail after it.
    head = _write_answer(db, row, response, actor, head, {"seq": seq, "item": pending.external_id,
                                                           "version": pending.version, "choice": choice,
                                                           "scored": not unscored}, token_digest)
    return outcome, ((pool.database, row.id), engine_session, row, head)


def _write_answer(db: Session, row: _Sitting, response: dict[str, Any], actor: str, head: audit.ChainHead,
                  event: dict[str, Any], token_digest: str | None = None) -> audit.ChainHead:
    """The response, the sitting as the answer left it and the audit event (plus exam.finish and its seal
    when the answer ended the exam); returns the chain's new head. The sitting's own audit chain needs no
    lock beyond the sitting's row lock (held since the read, or taken by the PostgreSQL statement itself);
    the seal goes on the global chain, which takes PostgreSQL's advisory lock until commit (item_bank.audit).
    The unique (session, seq) and (chain, chain_seq) constraints fire here on a race."""
    subject = f"session:{row.id}"
    if row.state == "in_progress" and db.get_bind().dialect.name == "postgresql":
        event_row, new_head = audit.sitting_event_row(actor=actor, kind="exam.answer", subject=subject, data=event,
                                                      head=head)
        now = utcnow()
        values = {**{"r_" + k: v for k, v in response.items()}, "s_sitting_id": row.id,
                  "s_deadline_from": now - DEADLINE_GRACE, **{"s_" + n: getattr(row, n) for n in _ADVANCED},
                  **{"a_" + k: v for k, v in event_row.items()}}
        statement = _WRITE_ANSWER_PG
        if token_digest is not None:
            statement, values["t_digest"], values["t_now"] = _WRITE_LEARNER_ANSWER_PG, token_digest, now
        if not db.connection().execute(statement, values).scalar():
            raise _StaleSitting()
        return new_head
    db.connection().execute(_INSERT_RESPONSE, response)
    _write_sitting(db, row)
    head = audit.record(db, actor=actor, kind="exam.answer", subject=subject, head=head, data=event)
    if row.state == "completed":
        head = audit.record(db, actor=actor, kind="exam.finish", subject=subject, head=head,
                            data={"decision": row.decision, "theta": row.theta, "se": row.se,
                                  "items": response["seq"], "stop_reason": row.stop_reason})
    return head


def pretest_plan(row: AnySitting) -> dict[int, int]:
    """seq -> item id of the pretest items this sitting was seeded with at its start."""
    return {int(seq): int(item_id) for seq, item_id in (row.cat_config.get("pretest_plan") or {}).items()}


def _present_next(row: AnySitting, pool: RuntimePool, engine_session: AdaptiveSession,
                  stored: Callable[[], Sequence[StoredAnswer]], seq: int) -> None:
    """`stored` gives the stored answers, this one included; only finishing needs them."""
    planned = pretest_plan(row).get(seq)
    if planned is not None and not engine_session.finished:
        row.pending_item_id, row.pending_seq, row.presented_at = planned, seq, utcnow()
        return
    next_position = engine_session.next_item()
    if next_position is None:
        _finish(row, pool, [r for r in stored() if r.scored], engine_session.decision, engine_session.stop_reason)
    else:
        row.pending_item_id = int(pool.item_ids[next_position])
        row.pending_seq = seq
        row.presented_at = utcnow()


def _finish(row: AnySitting, pool: RuntimePool, scored: Sequence[StoredAnswer], decision: str | None,
            stop_reason: str | None) -> None:
    row.state = "completed"
    row.pending_item_id = None
    row.pending_seq = None
    row.finished_at = utcnow()
    row.decision = decision
    row.stop_reason = stop_reason
    row.area_feedback = area_feedback(pool, scored, float(row.cat_config["cut_score"]))


def seconds_left(row: AnySitting) -> int | None:
    if row.deadline is None or row.state != "in_progress":
        return None
    return max(0, int((as_utc(row.deadline) - utcnow()).total_seconds()))


def _overdue(row: AnySitting) -> bool:
    return row.state == "in_progress" and row.deadline is not None and utcnow() > as_utc(row.deadline) + DEADLINE_GRACE


def close_if_overdue(db: Session, row: AnySitting) -> bool:
    """Ends a sitting whose time limit has passed (called whenever a learner looks at it)."""
    if not _overdue(row):
        return False
    row = get_session(db, row.id, for_update=True)
    if not _overdue(row):  # closed meanwhile by an answer or another look
        return False
    _close_overdue(db, row, _stored_answers(db, row.id), actor="system")
    return True


def time_limit_decision(snapshot: dict[str, Any], scored: int, theta: float) -> str:
    """The decision on a sitting its time limit ended after `scored` scored answers. Fewer than the exam's
    minimum length is not enough evidence to certify anyone, so that is a fail; otherwise the estimate
    decides."""
    enough = scored >= int(snapshot.get("min_length", 1))
    return "pass" if enough and theta >= float(snapshot["cut_score"]) else "fail"


def _close_overdue(db: Session, row: AnySitting, responses: Sequence[StoredAnswer], actor: str,
                   head: audit.ChainHead | None = None) -> None:
    """Scores what was answered in time (time_limit_decision)."""
    pool = _pool_of(db, row)
    scored = [r for r in responses if r.scored]
    engine_session = _replay(pool, row, scored)
    row.theta, row.se = float(engine_session.theta), float(engine_session.se)
    _finish(row, pool, scored, time_limit_decision(row.cat_config, len(scored), engine_session.theta), "time_limit")
    audit.record(db, actor=actor, kind="exam.finish", subject=f"session:{row.id}", head=head,
                 data={"decision": row.decision, "theta": row.theta, "se": row.se,
                       "items": len(responses), "stop_reason": row.stop_reason})


def area_feedback(pool: RuntimePool, responses: Sequence[StoredAnswer], cut_score: float) -> list[dict[str, Any]]:
    """Per area: did the learner score at least what a borderline passer would on the same items?

    Reports only a verdict per area, never which answers were right, so no key leaks.
    """
    positions = np.array([pool.position(r.item_id) for r in responses], dtype=np.int64)
    scores = np.array([r.score for r in responses], dtype=float)
    expected = logistic_prob(cut_score, pool.a[positions], pool.b[positions],
                           pool.c[positions], pool.d[positions])
    areas = np.array([pool.areas[p] for p in positions])
    feedback = []
    for slug in sorted(set(areas.tolist())):
        mask = areas == slug
        meets = bool(scores[mask].sum() + 1e-9 >= expected[mask].sum())
        feedback.append({"area": slug, "items": int(mask.sum()), "meets_standard": meets})
    return feedback


# A finished sitting's result in one statement: the ORM way (the row, its exam, its candidate, its
# parameter set, its responses) took six.
_RESULT = (
    select(_sittings.c.id, _sittings.c.candidate_id, _sittings.c.exam_id, _sittings.c.state, _sittings.c.deadline,
           _sittings.c.decision, _sittings.c.finished_at, _sittings.c.area_feedback, _sittings.c.stop_reason,
           Exam.title, Candidate.name, ParameterSet.provisional,
           select(func.count()).where(Response.session_id == _sittings.c.id).scalar_subquery().label("answered"))
    .join(Exam, Exam.id == _sittings.c.exam_id).join(Candidate, Candidate.id == _sittings.c.candidate_id)
    .join(ParameterSet, ParameterSet.id == _sittings.c.parameter_set_id)
    .where(_sittings.c.id == bindparam("session_id"))
)


def result(db: Session, session_id: str, *, candidate_id: int | None = None) -> SessionResult:
    """With `candidate_id`, a sitting of anyone else is reported as not found (as get_session does)."""
    _check_session_id(session_id)
    found = db.execute(_RESULT, {"session_id": session_id}).first()
    if found is None or (candidate_id is not None and found.candidate_id != candidate_id):
        raise NotFound("no such exam session")
    if close_if_overdue(db, found):
        found = db.execute(_RESULT, {"session_id": session_id}).first()
    if found.state != "completed":
        raise Conflict("the exam is not finished yet")
    return SessionResult(
        session_id=found.id,
        exam_id=found.exam_id,
        exam_title=found.title,
        candidate_name=found.name,
        decision=found.decision or "fail",
        items_answered=found.answered,
        finished_at=found.finished_at,
        areas=found.area_feedback or [],
        provisional=bool(found.provisional),
        timed_out=found.stop_reason == "time_limit",
    )
