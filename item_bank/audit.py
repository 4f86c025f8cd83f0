"""Hash-chained audit trail, partitioned so that learners' answers never wait on one global lock.

Chains. Each event extends one chain: events about a sitting (subject "session:<id>": exam.start,
exam.answer, exam.finish) extend that sitting's own chain, named after the subject; every other
event extends the "global" chain. An event's hash covers its content and the hash of the previous
event of the same chain (GENESIS for the first); `chain_seq` numbers the events of a chain 1, 2, ...

Locking. A sitting's chain is only ever extended while the sitting's exam_sessions row is locked:
by a transaction that holds it (SELECT ... FOR UPDATE in delivery.answering, or the row it has just
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
an exam.start event; a stored response without its exam.answer event (or differing from it, scored flag
included), a stored score its choice does not earn, and an exam.answer event without its response; a
sitting whose state or decision is not the one its exam.finish event recorded; a recorded tree head
(checkpoint) that does not match the tree it covers.

Reading the head. Appending needs the chain's head (its newest event's seq and hash). `record` looks
it up, unless the caller passes the head it read with `head_columns` in a statement it runs anyway:
delivery reads a sitting's head together with the sitting's row (and its lock, unless the answer is
optimistic), one round trip fewer per answer; on PostgreSQL an answer to a sitting whose previous
answer the same process wrote uses the head that answer left (delivery.engine_sessions). A head read or
kept that way can only be stale, never ahead (it was read before the append; on PostgreSQL a statement
that waited for the row lock sees other tables as they were when it began), and a stale head makes the
insert collide on (chain, chain_seq), so the request retries instead of forking the chain. A statement
that inserts an event only `where extends_head(...)` also refuses a head that is not stale but gone
(events rewritten out of band, as migration 0006 did).

Tree heads. The global chain is also the leaf sequence of an RFC 9162 Merkle tree (a leaf per event,
in chain_seq order: the order appends take the global lock, so commit order too). A tree head (size,
root) commits to the global chain's first `size` events and, through their seals, to every sitting
chain finished by then. certs.checkpoints signs heads with a key kept outside the database and records
them as "audit.checkpoint" events; `verify_chain` checks each recorded head, and any other the caller
asks about, against the tree it recomputes. `consistency_proof` / `verify_consistency` let someone who
kept an old head check that a newer one extends it, without the events (RFC 9162, 2.1.4).

Honest limits. The tail of an in-progress sitting's chain is protected only by the response
cross-check: removing (or forging) the latest answer events together with their responses goes
unnoticed, and no tree head covers a chain before its seal. The newest events of the global chain
have no successor to contradict their removal until a checkpoint covers them. And the chain alone has
no secret: someone who can write the database and recomputes every later hash can rewrite history;
what exposes that is a signed checkpoint kept outside the database (docs/security.md).
Events written before migration 0006 all sit on the global chain and verify as before.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, ScalarSelect, insert, or_, select, text
from sqlalchemy.orm import Session

from item_bank.merkle import EMPTY_ROOT, MerkleFrontier, leaf_hash
from storage import AuditEvent, Item, Response, Sitting, utcnow

GENESIS = "0" * 64
GLOBAL = "global"
SESSION_PREFIX = "session:"
SEAL_KIND = "audit.chain_closed"
# Kinds that end a sitting's chain; each gets a seal on the global chain.
CLOSING_KINDS = frozenset({"exam.finish"})
GLOBAL_LOCK_KEY = 727001
# A signed tree head, recorded on the global chain right after the events it covers (certs.checkpoints).
CHECKPOINT_KIND = "audit.checkpoint"


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
    def of(cls, seq: int | None, hash_: str | None) -> ChainHead:
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


def hold_global_lock(db: Session) -> None:
    """Serialise global appends so two workers never chain onto the same predecessor (PostgreSQL; held to
    commit, and re-entrant). Taken before reading the global chain, it also keeps the chain as read."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GLOBAL_LOCK_KEY})


def _append(db: Session, chain: str, *, actor: str, kind: str, subject: str, data: dict[str, Any],
            head: ChainHead | None = None) -> ChainHead:
    if chain == GLOBAL:
        hold_global_lock(db)
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
    tree: TreeHead | None = None  # the global chain's tree head as verified now
    roots: dict[int, str] = field(default_factory=dict)  # tree size -> root, for the sizes asked about


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
    finishes: dict[str, tuple[int, Any]] = field(default_factory=dict)  # sitting subject -> (event id, decision)
    # (sitting subject, seq) -> (event id, chain, item, version, choice, scored) of its exam.answer event
    answers: dict[tuple[str, Any], tuple[int, str, Any, Any, Any, Any]] = field(default_factory=dict)
    tree: _GlobalTree = field(default_factory=lambda: _GlobalTree())


def verify_chain(db: Session, tree_sizes: Iterable[int] = ()) -> ChainReport:
    """Check every chain and seal, the recorded tree heads, then the sittings and responses against
    the trail; also report the tree's root at each of `tree_sizes` (for checkpoints kept elsewhere).

    One pass over the events in (chain, chain_seq) order, streamed, then one over sittings and one over
    responses: linear time; memory grows with the number of answers (a dict entry each).
    """
    db.flush()
    conn = db.connection()  # Core rows: several times cheaper than ORM objects for this pass
    problems: list[str] = []
    seals = _read_seals(conn, problems)
    walk = _Walk(tree=_GlobalTree(wanted=set(tree_sizes)))
    _walk_chains(conn, walk, dict(seals), problems)
    _check_sittings(conn, walk, set(seals), problems)
    _check_responses(conn, walk, problems)
    return ChainReport(ok=not problems, checked=walk.events, problems=problems, chains=walk.chains,
                       tree=walk.tree.head(), roots=dict(walk.tree.roots))


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


_EVENT_COLUMNS = (AuditEvent.id, AuditEvent.chain, AuditEvent.chain_seq, AuditEvent.at, AuditEvent.actor,
                  AuditEvent.kind, AuditEvent.subject, AuditEvent.data, AuditEvent.prev_hash, AuditEvent.hash)


def _walk_chains(conn: Connection, walk: _Walk, seals: dict[str, _Seal], problems: list[str]) -> None:
    """Links, sequence and content of every event; each chain's end against its seal (popped from `seals`);
    the global chain's tree and the heads recorded on it."""
    chain: str | None = None
    expected_seq, prev, last_seq, head_at_seal = 1, GENESIS, 0, None
    rows = conn.execute(select(*_EVENT_COLUMNS).order_by(AuditEvent.chain, AuditEvent.chain_seq),
                        execution_options={"yield_per": 5000})
    for event_id, ev_chain, seq, at, actor, kind, subject, data, prev_hash, ev_hash in rows:
        walk.events += 1
        if ev_chain != chain:
            if chain is not None:
                _check_seal(chain, seals.pop(chain, None), last_seq, head_at_seal, problems)
            chain, expected_seq, prev, head_at_seal = ev_chain, 1, GENESIS, None
            walk.chains += 1
        where = f"event {event_id} ({chain} #{seq})"
        _check_link(where, seq, expected_seq, prev_hash, prev, problems)
        _check_content(where, at, actor, kind, subject, data, prev_hash, ev_hash, problems)
        home = GLOBAL if kind in (SEAL_KIND, CHECKPOINT_KIND) else chain_of(subject)
        if chain not in (home, GLOBAL):  # GLOBAL: sittings' events written before migration 0006
            problems.append(f"{where}: belongs to chain {home}, not {chain} (record moved)")
        if chain == GLOBAL:
            walk.tree.add(where, seq, kind, data, ev_hash, problems)
        _note_sitting_event(walk, where, event_id, chain, kind, subject, data, problems)
        if chain in seals and seq == seals[chain].events:
            head_at_seal = ev_hash
        expected_seq, prev, last_seq = seq + 1, ev_hash, seq
    if chain is not None:
        _check_seal(chain, seals.pop(chain, None), last_seq, head_at_seal, problems)
    for name, seal in seals.items():
        problems.append(f"chain {name}: closed by event {seal.event_id} with {seal.events} events, but none "
                        f"remain (the whole chain was removed)")


def _check_link(where: str, seq: int, expected_seq: int, prev_hash: str, prev: str, problems: list[str]) -> None:
    if seq != expected_seq:
        problems.append(f"{where}: {seq - expected_seq} event(s) missing before it in its chain "
                        f"(records removed)")
    elif prev_hash != prev:
        problems.append(f"{where}: previous-hash link broken (a record before it was removed or changed)")


def _note_sitting_event(walk: _Walk, where: str, event_id: int, chain: str, kind: str, subject: str, data: Any,
                        problems: list[str]) -> None:
    """Remember what the checks against sittings and responses need: starts, finishes, answers."""
    info = data if isinstance(data, dict) else {}
    if kind == "exam.start":
        walk.starts[subject] = chain
    elif kind == "exam.finish":
        walk.finishes[subject] = (event_id, info.get("decision"))
    elif kind == "exam.answer":
        key = (subject, info.get("seq"))
        if key in walk.answers:
            problems.append(f"{where}: a second exam.answer for {subject} seq {key[1]} (event forged)")
        else:
            walk.answers[key] = (event_id, chain, info.get("item"), info.get("version"), info.get("choice"),
                                 info.get("scored"), info.get("order"))


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
    """Every sitting has an audit trail, a completed one (with a chain of its own) a sealed chain, and
    its state and decision are the ones its exam.finish event recorded."""
    for session_id, state, decision in conn.execute(
        select(Sitting.id, Sitting.state, Sitting.decision).order_by(Sitting.id)
    ):
        subject = SESSION_PREFIX + session_id
        own_chain = walk.starts.get(subject) == subject
        if subject not in walk.starts:
            problems.append(f"sitting {session_id}: no exam.start audit event (a sitting without an audit trail)")
        elif state == "completed" and own_chain and subject not in sealed:
            problems.append(f"sitting {session_id}: completed, but its chain has no closing seal "
                            f"(its exam.finish or seal event was removed)")
        elif state == "completed" and not own_chain and subject not in walk.finishes:
            problems.append(f"sitting {session_id}: completed, but it has no exam.finish event")
        _check_outcome(session_id, state, decision, walk.finishes.get(subject), problems)


def _check_outcome(session_id: str, state: str, decision: Any, finish: tuple[int, Any] | None,
                   problems: list[str]) -> None:
    """The row's state and decision against the sitting's exam.finish event (None: it has none)."""
    if finish is not None and state != "completed":
        problems.append(f"sitting {session_id}: its exam.finish event {finish[0]} ended it, but it is marked "
                        f"{state!r} (state altered)")
    elif finish is not None and decision != finish[1]:
        problems.append(f"sitting {session_id}: decision {decision!r} differs from its exam.finish event "
                        f"{finish[0]} ({finish[1]!r}) (result altered)")
    elif finish is None and state != "completed" and decision is not None:
        problems.append(f"sitting {session_id}: decision {decision!r} on a sitting that has not finished "
                        f"(result altered)")


def _check_responses(conn: Connection, walk: _Walk, problems: list[str]) -> None:
    """Responses and exam.answer events correspond one to one, with the same item, choice, option order and
    scored flag; and each stored score is what its choice earns."""
    items = {item_id: (ref, version, key) for item_id, ref, version, key in conn.execute(
        select(Item.id, Item.external_id, Item.version, Item.key_index))}
    answers = walk.answers  # consumed: what is left has no response
    for session_id, seq, item_id, choice, order, score, scored in conn.execute(
        select(Response.session_id, Response.seq, Response.item_id, Response.choice, Response.option_order,
               Response.score, Response.scored)
        .order_by(Response.session_id, Response.seq), execution_options={"yield_per": 5000},
    ):
        subject = SESSION_PREFIX + session_id
        found = answers.pop((subject, seq), None)
        if found is None:
            problems.append(f"response {session_id} #{seq}: no exam.answer event in its sitting's chain "
                            f"(response inserted, or its audit event removed)")
            continue
        event_id, ev_chain, ref, version, ev_choice, ev_scored, ev_order = found
        # The newest global events have no successor, so a sitting's answers must be on its own chain
        # (or on the global one if the whole sitting predates migration 0006 and began there).
        if ev_chain != subject and not (ev_chain == GLOBAL and walk.starts.get(subject) == GLOBAL):
            problems.append(f"event {event_id}: exam.answer for {subject} seq {seq} is outside the sitting's "
                            f"chain (event forged)")
        item_ref, item_version, key = items.get(item_id, (None, None, None))
        # The option order is compared where both sides have one: responses stored before migration 0015 (or
        # kept through a downgrade past it) have none, and the order decides no score.
        if (ref, ev_choice) != (item_ref, choice) or (None not in (ev_order, order) and ev_order != order) \
                or (version is not None and version != item_version) \
                or (ev_scored is not None and ev_scored != bool(scored)):
            problems.append(f"response {session_id} #{seq}: differs from its exam.answer event {event_id} "
                            f"(recorded answer altered)")
        elif score != int(choice == key):
            problems.append(f"response {session_id} #{seq}: stored score {score}, but choice {choice} earns "
                            f"{int(choice == key)} (score altered)")
    for (subject, seq), (event_id, *_rest) in sorted(answers.items(), key=lambda kv: kv[1][0]):
        problems.append(f"event {event_id}: exam.answer for {subject} seq {seq} has no stored response "
                        f"(response removed, or event forged)")


def _check_content(where: str, at: Any, actor: str, kind: str, subject: str, data: Any, prev_hash: str,
                   ev_hash: str, problems: list[str]) -> None:
    if _digest(prev_hash, _timestamp(at), actor, kind, subject, data) != ev_hash:
        problems.append(f"{where}: content does not match its hash (record altered)")


# ---------------------------------------------------------------- tree heads (item_bank/merkle.py)



@dataclass(frozen=True)
class TreeHead:
    """The global chain's first `size` events as one root; `events` counts them and the events of the
    sitting chains they seal (all that the head vouches for); `last` is the chain's head at `size`."""

    size: int
    root: str
    events: int
    last: ChainHead


@dataclass
class _GlobalTree:
    """The global chain as a walk meets it, event by event: its tree, the roots asked for, the tree heads
    recorded on it (checkpoint events) checked against the tree they claim."""

    wanted: set[int] = field(default_factory=set)
    roots: dict[int, str] = field(default_factory=dict)
    frontier: MerkleFrontier = field(default_factory=MerkleFrontier)
    sealed_events: int = 0
    last: ChainHead = EMPTY_CHAIN

    def __post_init__(self) -> None:
        if 0 in self.wanted:
            self.roots[0] = EMPTY_ROOT

    def add(self, where: str, seq: int, kind: str, data: Any, ev_hash: str, problems: list[str]) -> None:
        if kind == CHECKPOINT_KIND:
            _check_recorded_head(where, self.frontier, data, problems)
        elif kind == SEAL_KIND and isinstance(data, dict) and type(data.get("events")) is int:
            self.sealed_events += data["events"]
        self.frontier.append(leaf_hash(ev_hash))
        self.last = ChainHead(seq, ev_hash)
        if self.frontier.size in self.wanted:
            self.roots[self.frontier.size] = self.frontier.root()

    def head(self) -> TreeHead:
        return TreeHead(self.frontier.size, self.frontier.root(), self.frontier.size + self.sealed_events, self.last)


def _check_recorded_head(where: str, frontier: MerkleFrontier, data: Any, problems: list[str]) -> None:
    """A checkpoint event sits right after the events it covers, and names their root."""
    info = data if isinstance(data, dict) else {}
    size, root = info.get("treeSize"), info.get("rootHash")
    if size != frontier.size:
        problems.append(f"{where}: checkpoint of {size} global events recorded after {frontier.size} of them "
                        f"(events before it removed or inserted)")
    elif root != frontier.root():
        problems.append(f"{where}: checkpoint root does not match the first {size} global events "
                        f"(history before it rewritten)")


def global_tree(db: Session) -> tuple[TreeHead, list[str]]:
    """The global chain's tree head now, and what is wrong with that chain (links, content, the heads
    recorded on it): a head is only worth signing over a chain that verifies. Reads the global chain only."""
    db.flush()
    problems: list[str] = []
    tree = _GlobalTree()
    expected, prev = 1, GENESIS
    rows = db.connection().execute(select(*_EVENT_COLUMNS).where(AuditEvent.chain == GLOBAL)
                                   .order_by(AuditEvent.chain_seq), execution_options={"yield_per": 5000})
    for event_id, _chain, seq, at, actor, kind, subject, data, prev_hash, ev_hash in rows:
        where = f"event {event_id} ({GLOBAL} #{seq})"
        _check_link(where, seq, expected, prev_hash, prev, problems)
        _check_content(where, at, actor, kind, subject, data, prev_hash, ev_hash, problems)
        tree.add(where, seq, kind, data, ev_hash, problems)
        expected, prev = seq + 1, ev_hash
    return tree.head(), problems


def global_leaves(db: Session, size: int) -> list[bytes]:
    """The leaf hashes of the global chain's first `size` events (fewer if it is shorter)."""
    rows = db.connection().execute(select(AuditEvent.hash).where(AuditEvent.chain == GLOBAL)
                                   .order_by(AuditEvent.chain_seq).limit(size))
    return [leaf_hash(h) for (h,) in rows]


# ---------------------------------------------------------------- one sitting's trail


@dataclass
class SittingTrail:
    """One sitting's events as recorded (start, answers by seq, finish) and what is wrong with them."""

    problems: list[str] = field(default_factory=list)
    start: dict[str, Any] | None = None
    answers: dict[Any, dict[str, Any]] = field(default_factory=dict)
    finish: dict[str, Any] | None = None


def sitting_trail(db: Session, session_id: str) -> SittingTrail:
    """Read and check one sitting's events -- its chain, its seal, any it began on the global chain before
    migration 0006 -- for a decision taken from them now (certificate issuance), without a full verify."""
    db.flush()
    subject = SESSION_PREFIX + session_id
    trail = SittingTrail()
    seals: list[tuple[int, Any]] = []
    expected, prev = 1, GENESIS
    rows = db.connection().execute(select(*_EVENT_COLUMNS).where(AuditEvent.subject == subject)
                                   .order_by(AuditEvent.chain, AuditEvent.chain_seq))
    for event_id, chain, seq, at, actor, kind, _subject, data, prev_hash, ev_hash in rows:
        where = f"event {event_id} ({chain} #{seq})"
        _check_content(where, at, actor, kind, subject, data, prev_hash, ev_hash, trail.problems)
        if kind == SEAL_KIND:
            seals.append((event_id, data))
            continue
        if chain == subject:
            _check_link(where, seq, expected, prev_hash, prev, trail.problems)
            expected, prev = seq + 1, ev_hash
        elif chain != GLOBAL:
            trail.problems.append(f"{where}: belongs to chain {subject}, not {chain} (record moved)")
        _note_trail_event(trail, where, kind, data)
    _check_trail_seal(trail, subject, seals, ChainHead(expected - 1, prev))
    return trail


def _note_trail_event(trail: SittingTrail, where: str, kind: str, data: Any) -> None:
    info = data if isinstance(data, dict) else {}
    if kind == "exam.start":
        trail.start = info
    elif kind == "exam.finish":
        trail.finish = info
    elif kind == "exam.answer":
        if info.get("seq") in trail.answers:
            trail.problems.append(f"{where}: a second exam.answer for seq {info.get('seq')} (event forged)")
        trail.answers[info.get("seq")] = info


def _check_trail_seal(trail: SittingTrail, chain: str, seals: list[tuple[int, Any]], head: ChainHead) -> None:
    """A finished sitting's own chain ends exactly where its one seal says."""
    if head.seq == 0:  # no chain of its own: a sitting begun before migration 0006 is not sealed
        return
    if trail.finish is not None and not seals:
        trail.problems.append(f"chain {chain}: finished, but has no closing seal (seal removed)")
    for event_id, data in seals:
        info = data if isinstance(data, dict) else {}
        if (info.get("events"), info.get("head")) != (head.seq, head.hash):
            trail.problems.append(f"chain {chain}: does not match its closing seal (event {event_id}); events "
                                  f"were removed, changed or appended")
    if len(seals) > 1:
        trail.problems.append(f"chain {chain}: sealed {len(seals)} times")
