"""Hash-chained audit trail, partitioned so that learners' answers never wait on one global lock.

Chains. Each event extends one chain: events about a sitting (subject "session:<id>": exam.start,
exam.answer, exam.finish) extend that sitting's own chain, named after the subject; every other
event extends the "global" chain. An event's hash covers its content and the hash of the previous
event of the same chain (GENESIS for the first); `chain_seq` numbers the events of a chain 1, 2, ...

Locking. A sitting's chain is only ever extended while the sitting's exam_sessions row is locked:
by a transaction that holds it (SELECT ... FOR UPDATE in delivery._submit, or the row it has just
inserted), or, for an optimistic answer on PostgreSQL, by the one statement that also updates that
row, and only if the row is still at the answered seq. So it takes no lock of its own; the unique
(chain, chain_seq) constraint is the backstop -- two racing appends cannot both become seq n, the
loser gets an IntegrityError and its request retries. The
global chain keeps the PostgreSQL advisory lock, which an exam now takes once, when it finishes.

Sealing. When a sitting's chain is closed by exam.finish, an "audit.chain_closed" event on the global
chain records the chain's length and head hash. Removing the tail, or all, of a finished sitting's
chain, or appending to it later, therefore contradicts a global-chain event.

What `verify_chain` detects: an altered event (hash mismatch); a removed or re-ordered event inside a
chain (seq gap or broken prev-hash link; `chain_seq` is not hashed, but renumbering rows changes which
event precedes which, so the links break, and a gap is reported as such); a seal that does not match
its chain, or events after a seal; a completed sitting whose chain is not sealed; a sitting without
an exam.start event; a stored response without its exam.answer event (or differing from it) and an
exam.answer event without its response.

Reading the head. Appending needs the chain's head (its newest event's seq and hash). `record` looks
it up, unless the caller passes the head it read with `head_columns` in a statement it runs anyway:
delivery reads a sitting's head together with the sitting's row (and its lock, unless the answer is
optimistic), one round trip fewer per answer; on PostgreSQL an answer to a sitting whose previous
answer the same process wrote uses the head that answer left (delivery._EngineSessions). A head read or
kept that way can only be stale, never ahead (it was read before the append; on PostgreSQL a statement
that waited for the row lock sees other tables as they were when it began), and a stale head makes the
insert collide on (chain, chain_seq), so the request retries instead of forking the chain. A statement
that inserts an event only `where extends_head(...)` also refuses a head that is not stale but gone
(events rewritten out of band, as migration 0006 did).

Honest limits. The tail of an in-progress sitting's chain is protected only by the response
cross-check: removing (or forging) the latest answer events together with their responses goes
unnoticed. Likewise the newest events of the global chain have no successor to contradict their
removal. And there is no secret: someone who can write the database and recomputes every later hash
can rewrite history -- the chain detects edits, it does not prevent a determined database owner.
Events written before migration 0006 all sit on the global chain and verify as before.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, ScalarSelect, insert, or_, select, text
from sqlalchemy.orm import Session

from item_bank.models import AuditEvent, ExamSession, Item, Response, utcnow

GENESIS = "0" * 64
GLOBAL = "global"
SESSION_PREFIX = "session:"
SEAL_KIND = "audit.chain_closed"
# Kinds that end a sitting's chain; each gets a seal on the global chain.
CLOSING_KINDS = frozenset({"exam.finish"})
GLOBAL_LOCK_KEY = 727001


def _digest(prev_hash: str, at: str, actor: str, kind: str, subject: str, data: dict[str, Any]) -> str:
    body = json.dumps(
        {"prev": prev_hash, "at": at, "actor": actor, "kind": kind, "subject": subject, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _timestamp(at: dt.datetime) -> str:
    # SQLite drops tzinfo on the way back; hash a naive UTC ISO string so both backends agree.
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


def chain_of(subject: str) -> str:
    """The chain an event about `subject` extends: the sitting's own, or the global one."""
    return subject if subject.startswith(SESSION_PREFIX) else GLOBAL


@dataclass(frozen=True)
class ChainHead:
    """A chain's newest event: the next event links to `hash` and gets chain_seq `seq + 1`."""

    seq: int
    hash: str

    @classmethod
    def of(cls, seq: int | None, hash_: str | None) -> "ChainHead":
        """From the values `head_columns` read: NULLs mean an empty chain."""
        return EMPTY_CHAIN if seq is None else cls(seq, hash_)


EMPTY_CHAIN = ChainHead(0, GENESIS)


def head_columns(chain: Any) -> tuple[ScalarSelect[int], ScalarSelect[str]]:
    """The seq and hash of `chain`'s newest event as scalar subqueries (NULL when the chain is empty),
    to read in a SELECT the caller runs anyway and hand to `record` via `ChainHead.of`.

    `chain` is a chain name or a SQL expression for one (e.g. a bind parameter)."""
    def newest(column):
        return (select(column).where(AuditEvent.chain == chain)
                .order_by(AuditEvent.chain_seq.desc()).limit(1).scalar_subquery())

    return newest(AuditEvent.chain_seq), newest(AuditEvent.hash)


def extends_head(chain: Any, chain_seq: Any, prev_hash: Any) -> ColumnElement[bool]:
    """SQL: an event with these values links to its chain's event `chain_seq - 1` as stored now (or is a
    chain's first). With the unique (chain, chain_seq) constraint, which refuses it if that event is not
    the newest, an insert made only where this holds extends the chain exactly at its head."""
    previous = select(AuditEvent.id).where(AuditEvent.chain == chain, AuditEvent.chain_seq == chain_seq - 1,
                                           AuditEvent.hash == prev_hash)
    return or_(chain_seq == 1, previous.exists())


def record(db: Session, *, actor: str, kind: str, subject: str, data: dict[str, Any] | None = None,
           head: ChainHead | None = None) -> ChainHead:
    """Append an event inside the caller's transaction (so it commits or rolls back with the change).

    A sitting's event must be recorded while holding that sitting's row (see the module docstring).
    `head` is the head of the event's chain if the caller has read it (see "Reading the head"); the
    returned head is the new event, to pass on when recording another event on the same chain.
    Recording a closing kind (exam.finish) also seals the sitting's chain on the global chain.
    """
    if kind == SEAL_KIND:
        raise ValueError(f"{SEAL_KIND!r} events are written by the audit trail itself")
    chain = chain_of(subject)
    event = _append(db, chain, actor=actor, kind=kind, subject=subject, data=data or {}, head=head)
    if chain != GLOBAL and kind in CLOSING_KINDS:
        _append(db, GLOBAL, actor="audit", kind=SEAL_KIND, subject=chain,
                data={"chain": chain, "events": event.seq, "head": event.hash})
    return event


_INSERT_EVENT = insert(AuditEvent.__table__)  # built once: building it costs about as much as running it


def sitting_event_row(*, actor: str, kind: str, subject: str, data: dict[str, Any],
                      head: ChainHead) -> tuple[dict[str, Any], ChainHead]:
    """The audit_events row that `record` would insert for an event on a sitting's chain, and the new
    head, for a caller that inserts it in a statement of its own (delivery writes an answer's three
    rows in one statement on PostgreSQL). The same rules as `record` apply: the caller holds the
    sitting's row and read `head` with it; closing kinds must go through `record` (they seal)."""
    chain = chain_of(subject)
    if chain == GLOBAL or kind in CLOSING_KINDS or kind == SEAL_KIND:
        raise ValueError(f"{kind!r} about {subject!r} must be recorded with record()")
    return _event_row(chain, actor=actor, kind=kind, subject=subject, data=data, head=head)


def _event_row(chain: str, *, actor: str, kind: str, subject: str, data: dict[str, Any],
               head: ChainHead) -> tuple[dict[str, Any], ChainHead]:
    at = utcnow()
    event = ChainHead(head.seq + 1, _digest(head.hash, _timestamp(at), actor, kind, subject, data))
    return {"chain": chain, "chain_seq": event.seq, "at": at, "actor": actor, "kind": kind, "subject": subject,
            "data": data, "prev_hash": head.hash, "hash": event.hash}, event


def _append(db: Session, chain: str, *, actor: str, kind: str, subject: str, data: dict[str, Any],
            head: ChainHead | None = None) -> ChainHead:
    if chain == GLOBAL and db.get_bind().dialect.name == "postgresql":
        # Serialise global appends so two workers never chain onto the same predecessor (held to commit).
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GLOBAL_LOCK_KEY})
    db.flush()  # the caller's pending changes are written before the event, as they have always been
    if head is None:
        head = ChainHead.of(*db.execute(select(*head_columns(chain))).one())
    row, event = _event_row(chain, actor=actor, kind=kind, subject=subject, data=data, head=head)
    # A Core INSERT: nothing reads the event back as an ORM object, and it skips a unit-of-work flush.
    db.connection().execute(_INSERT_EVENT, row)
    return event


@dataclass
class ChainReport:
    ok: bool
    checked: int  # events
    problems: list[str]
    chains: int = 0


@dataclass
class _Seal:
    event_id: int
    events: Any  # the chain's length when it was closed
    head: Any  # the hash of its last event


@dataclass
class _Walk:
    """What one pass over the chains leaves for the checks against sittings and responses."""

    events: int = 0
    chains: int = 0
    starts: dict[str, str] = field(default_factory=dict)  # sitting subject -> chain holding its exam.start
    # (sitting subject, seq) -> (event id, chain, item, version, choice) of its exam.answer event
    answers: dict[tuple[str, Any], tuple[int, str, Any, Any, Any]] = field(default_factory=dict)


def verify_chain(db: Session) -> ChainReport:
    """Check every chain and seal, then the sittings and responses against the trail.

    One pass over the events in (chain, chain_seq) order, streamed, then one over sittings and one over
    responses: linear time; memory grows with the number of answers (a dict entry each).
    """
    db.flush()
    conn = db.connection()  # Core rows: several times cheaper than ORM objects for this pass
    problems: list[str] = []
    seals = _read_seals(conn, problems)
    walk = _walk_chains(conn, dict(seals), problems)
    _check_sittings(conn, walk, set(seals), problems)
    _check_responses(conn, walk, problems)
    return ChainReport(ok=not problems, checked=walk.events, problems=problems, chains=walk.chains)


def _read_seals(conn: Connection, problems: list[str]) -> dict[str, _Seal]:
    seals: dict[str, _Seal] = {}
    for event_id, subject, data in conn.execute(
        select(AuditEvent.id, AuditEvent.subject, AuditEvent.data)
        .where(AuditEvent.kind == SEAL_KIND).order_by(AuditEvent.id)
    ):
        data = data if isinstance(data, dict) else {}
        if subject in seals:
            problems.append(f"event {event_id}: chain {subject} sealed a second time (first by event "
                            f"{seals[subject].event_id})")
        else:
            seals[subject] = _Seal(event_id, data.get("events"), data.get("head"))
    return seals


def _walk_chains(conn: Connection, seals: dict[str, _Seal], problems: list[str]) -> _Walk:
    """Links, sequence and content of every event; each chain's end against its seal (popped from `seals`)."""
    walk = _Walk()
    chain: str | None = None
    expected_seq, prev, last_seq, head_at_seal = 1, GENESIS, 0, None
    rows = conn.execute(
        select(AuditEvent.id, AuditEvent.chain, AuditEvent.chain_seq, AuditEvent.at, AuditEvent.actor,
               AuditEvent.kind, AuditEvent.subject, AuditEvent.data, AuditEvent.prev_hash, AuditEvent.hash)
        .order_by(AuditEvent.chain, AuditEvent.chain_seq),
        execution_options={"yield_per": 5000},
    )
    for event_id, ev_chain, seq, at, actor, kind, subject, data, prev_hash, ev_hash in rows:
        walk.events += 1
        if ev_chain != chain:
            if chain is not None:
                _check_seal(chain, seals.pop(chain, None), last_seq, head_at_seal, problems)
            chain, expected_seq, prev, head_at_seal = ev_chain, 1, GENESIS, None
            walk.chains += 1
        where = f"event {event_id} ({chain} #{seq})"
        if seq != expected_seq:
            problems.append(f"{where}: {seq - expected_seq} event(s) missing before it in its chain "
                            f"(records removed)")
        elif prev_hash != prev:
            problems.append(f"{where}: previous-hash link broken (a record before it was removed or changed)")
        if _digest(prev_hash, _timestamp(at), actor, kind, subject, data) != ev_hash:
            problems.append(f"{where}: content does not match its hash (record altered)")
        home = GLOBAL if kind == SEAL_KIND else chain_of(subject)
        if chain not in (home, GLOBAL):  # GLOBAL: sittings' events written before migration 0006
            problems.append(f"{where}: belongs to chain {home}, not {chain} (record moved)")
        if kind == "exam.start":
            walk.starts[subject] = chain
        elif kind == "exam.answer":
            info = data if isinstance(data, dict) else {}
            key = (subject, info.get("seq"))
            if key in walk.answers:
                problems.append(f"{where}: a second exam.answer for {subject} seq {key[1]} (event forged)")
            else:
                walk.answers[key] = (event_id, chain, info.get("item"), info.get("version"), info.get("choice"))
        if chain in seals and seq == seals[chain].events:
            head_at_seal = ev_hash
        expected_seq, prev, last_seq = seq + 1, ev_hash, seq
    if chain is not None:
        _check_seal(chain, seals.pop(chain, None), last_seq, head_at_seal, problems)
    for name, seal in seals.items():
        problems.append(f"chain {name}: closed by event {seal.event_id} with {seal.events} events, but none "
                        f"remain (the whole chain was removed)")
    return walk


def _check_seal(chain: str, seal: _Seal | None, last_seq: int, head_at_seal: str | None,
                problems: list[str]) -> None:
    if seal is None:
        return
    if head_at_seal is None or head_at_seal != seal.head:
        problems.append(f"chain {chain}: does not match its closing seal (event {seal.event_id}: "
                        f"{seal.events} events, head {str(seal.head)[:12]}); events at its tail were "
                        f"removed or changed (it now ends at seq {last_seq})")
    elif last_seq > seal.events:
        problems.append(f"chain {chain}: {last_seq - seal.events} event(s) appended after its closing "
                        f"seal (event {seal.event_id})")


def _check_sittings(conn: Connection, walk: _Walk, sealed: set[str], problems: list[str]) -> None:
    """Every sitting has an audit trail, and a completed one (with a chain of its own) a sealed chain."""
    for session_id, state in conn.execute(select(ExamSession.id, ExamSession.state).order_by(ExamSession.id)):
        subject = SESSION_PREFIX + session_id
        if subject not in walk.starts:
            problems.append(f"sitting {session_id}: no exam.start audit event (a sitting without an audit trail)")
        elif state == "completed" and walk.starts[subject] == subject and subject not in sealed:
            problems.append(f"sitting {session_id}: completed, but its chain has no closing seal "
                            f"(its exam.finish or seal event was removed)")


def _check_responses(conn: Connection, walk: _Walk, problems: list[str]) -> None:
    """Responses and exam.answer events correspond one to one, with the same item and choice."""
    items = {item_id: (ref, version) for item_id, ref, version in conn.execute(
        select(Item.id, Item.external_id, Item.version))}
    answers = walk.answers  # consumed: what is left has no response
    for session_id, seq, item_id, choice in conn.execute(
        select(Response.session_id, Response.seq, Response.item_id, Response.choice)
        .order_by(Response.session_id, Response.seq), execution_options={"yield_per": 5000},
    ):
        subject = SESSION_PREFIX + session_id
        found = answers.pop((subject, seq), None)
        if found is None:
            problems.append(f"response {session_id} #{seq}: no exam.answer event in its sitting's chain "
                            f"(response inserted, or its audit event removed)")
            continue
        event_id, ev_chain, ref, version, ev_choice = found
        # The newest global events have no successor, so a sitting's answers must be on its own chain
        # (or on the global one if the whole sitting predates migration 0006 and began there).
        if ev_chain != subject and not (ev_chain == GLOBAL and walk.starts.get(subject) == GLOBAL):
            problems.append(f"event {event_id}: exam.answer for {subject} seq {seq} is outside the sitting's "
                            f"chain (event forged)")
        item_ref, item_version = items.get(item_id, (None, None))
        if (ref, ev_choice) != (item_ref, choice) or (version is not None and version != item_version):
            problems.append(f"response {session_id} #{seq}: differs from its exam.answer event {event_id} "
                            f"(recorded answer altered)")
    for (subject, seq), (event_id, *_rest) in sorted(answers.items(), key=lambda kv: kv[1][0]):
        problems.append(f"event {event_id}: exam.answer for {subject} seq {seq} has no stored response "
                        f"(response removed, or event forged)")
