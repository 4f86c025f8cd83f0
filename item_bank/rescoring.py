"""Re-deriving a finished sitting's decision from what was recorded, not from what its row says.

`exam_sessions.decision` is one UPDATE away from 'pass'. A certificate must rest on the sitting's
answers and rules instead: the stored choices, scored against the item keys, replayed through the engine
under the sitting's snapshot and pinned parameter set -- the deterministic replay delivery uses to
resume a sitting -- and then the engine's decision, or the time-limit rule when the replay had not
finished (only the time limit ends a sitting the engine has not). What would make that derivation lie is
checked too: a score the choice does not earn, an answer marked unscored that the pretest plan did not
seed, a stored item the replay would not have chosen, a snapshot or parameter set other than the one the
exam.start event recorded. For one sitting (`rederive_sitting`, at issuance) the answers are also checked
against the sitting's hash chain and seal; `audit verify` checks those for every sitting in one pass and
calls `rederive_sittings` for the certified ones.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank import audit
from item_bank.delivery import StoredAnswer, pretest_plan, replay, time_limit_decision
from item_bank.runtime import pool_for, snapshot_digest
from storage import AuditEvent, Item, Response, Sitting

CHUNK = 500  # sittings read per round trip in rederive_sittings


@dataclass
class Rederived:
    """What a sitting's record supports: 'pass', 'fail', or None when it cannot be replayed at all, and
    every reason the record cannot be trusted (a sitting with problems certifies nothing)."""

    decision: str | None
    problems: list[str] = field(default_factory=list)

    def confirms(self, stored: str | None) -> bool:
        return not self.problems and self.decision == stored


class _Sitting(NamedTuple):
    id: str
    state: str
    decision: str | None
    seed: int
    parameter_set_id: int
    cat_config: dict[str, Any]


class _ItemFacts(NamedTuple):
    external_id: str
    version: int
    key_index: int


_SITTING_COLUMNS = (Sitting.id, Sitting.state, Sitting.decision, Sitting.seed,
                    Sitting.parameter_set_id, Sitting.cat_config)


def rederive_sitting(db: Session, session_id: str) -> Rederived:
    """One sitting, checked all the way: its chain and seal, its responses against its exam.answer events,
    its decision against its exam.finish event, and the decision re-derived. For issuing a certificate."""
    found = db.execute(select(*_SITTING_COLUMNS).where(Sitting.id == session_id)).first()
    if found is None:
        return Rederived(None, [f"sitting {session_id}: not found"])
    sitting = _Sitting(*found)
    answers = _answers_of(db, [session_id]).get(session_id, [])
    items = _items_of(db, {a.item_id for a in answers})
    trail = audit.sitting_trail(db, session_id)
    derived = _rederive(db, sitting, answers, items, trail.start)
    derived.problems[:0] = trail.problems + _trail_disagreements(sitting, trail, answers, items)
    return derived


def rederive_sittings(db: Session, session_ids: Iterable[str]) -> dict[str, Rederived]:
    """Many sittings' decisions re-derived, a few queries per CHUNK of them (the trail itself is left to
    audit.verify_chain)."""
    items = _items_of(db, None)
    derived: dict[str, Rederived] = {}
    ordered = sorted(set(session_ids))
    for n in range(0, len(ordered), CHUNK):
        part = ordered[n:n + CHUNK]
        sittings = {row.id: _Sitting(*row) for row in db.execute(select(*_SITTING_COLUMNS)
                                                                   .where(Sitting.id.in_(part)))}
        answers, starts = _answers_of(db, part), _start_events(db, part)
        for session_id in part:
            sitting = sittings.get(session_id)
            derived[session_id] = (Rederived(None, [f"sitting {session_id}: not found"]) if sitting is None else
                                   _rederive(db, sitting, answers.get(session_id, []), items, starts.get(session_id)))
    return derived


def _rederive(db: Session, sitting: _Sitting, answers: Sequence[StoredAnswer], items: dict[int, _ItemFacts],
              start: dict[str, Any] | None) -> Rederived:
    problems: list[str] = []
    if sitting.state != "completed":
        problems.append(f"sitting {sitting.id}: has not finished (it is {sitting.state!r})")
    scored = _scored_answers(sitting, answers, items, problems)
    try:
        pool = pool_for(db, sitting.parameter_set_id, sitting.cat_config["areas"])
        problems += _input_problems(sitting, start, pool.parameters_digest)
        session = replay(pool, sitting, scored)
    except (LookupError, TypeError, ValueError) as exc:
        problems.append(f"sitting {sitting.id}: its answers cannot be replayed under its rules and parameters "
                        f"({exc}); answers, rules or parameters were altered")
        return Rederived(None, problems)
    if session.finished:
        return Rederived(session.decision, problems)
    return Rederived(time_limit_decision(sitting.cat_config, len(scored), session.theta), problems)


def _scored_answers(sitting: _Sitting, answers: Sequence[StoredAnswer], items: dict[int, _ItemFacts],
                    problems: list[str]) -> list[StoredAnswer]:
    """The answers that count, each scored by its choice against the key (not by its stored score), and a
    problem for every stored score or scored flag that is not what it should be."""
    plan = pretest_plan(sitting)
    counted: list[StoredAnswer] = []
    for n, answer in enumerate(answers, start=1):
        where = f"response {sitting.id} #{answer.seq}"
        item = items.get(answer.item_id)
        if answer.seq != n:
            problems.append(f"{where}: answers are not numbered 1, 2, ... (an answer was removed or inserted)")
        if item is None:
            problems.append(f"{where}: its item {answer.item_id} does not exist")
            continue
        score = int(answer.choice == item.key_index)
        if answer.score != score:
            problems.append(f"{where}: stored score {answer.score}, but choice {answer.choice} earns {score} "
                            f"(score altered)")
        pretest = plan.get(answer.seq) == answer.item_id
        if bool(answer.scored) == pretest:
            problems.append(f"{where}: marked {'scored' if answer.scored else 'unscored'}, against the sitting's "
                            f"pretest plan (altered)")
        if not pretest:
            counted.append(StoredAnswer(answer.seq, answer.item_id, answer.choice, score, True))
    return counted


def _input_problems(sitting: _Sitting, start: dict[str, Any] | None, parameters_digest: str) -> list[str]:
    """The rules and parameters the decision is derived from are those the sitting's start recorded
    (sittings started before these were recorded are checked by the replay alone)."""
    if start is None:
        return [f"sitting {sitting.id}: no exam.start event to check its rules against"]
    problems = []
    if start.get("parameter_set", sitting.parameter_set_id) != sitting.parameter_set_id:
        problems.append(f"sitting {sitting.id}: pinned to parameter set {sitting.parameter_set_id}, but it started "
                        f"on set {start.get('parameter_set')} (altered)")
    if "rules" in start and start["rules"] != snapshot_digest(sitting.cat_config):
        problems.append(f"sitting {sitting.id}: its rules (cut score, stopping rules, pretest plan) differ from "
                        f"those recorded at its start (snapshot altered)")
    if start.get("parameters", parameters_digest) != parameters_digest:
        problems.append(f"sitting {sitting.id}: the item parameters of set {sitting.parameter_set_id} differ from "
                        f"those recorded at its start (parameter set altered)")
    return problems


def _trail_disagreements(sitting: _Sitting, trail: audit.SittingTrail, answers: Sequence[StoredAnswer],
                         items: dict[int, _ItemFacts]) -> list[str]:
    """Responses against the exam.answer events, one to one, and the decision against exam.finish."""
    problems = []
    for answer in answers:
        event, item = trail.answers.get(answer.seq), items.get(answer.item_id)
        where = f"response {sitting.id} #{answer.seq}"
        if event is None:
            problems.append(f"{where}: no exam.answer event (response inserted, or its event removed)")
        elif (item is None or (event.get("item"), event.get("choice")) != (item.external_id, answer.choice)
              or event.get("version", item.version) != item.version
              or event.get("scored", answer.scored) != bool(answer.scored)):
            problems.append(f"{where}: differs from its exam.answer event (recorded answer altered)")
    for seq in sorted(set(trail.answers) - {a.seq for a in answers}, key=str):
        problems.append(f"sitting {sitting.id}: exam.answer for seq {seq} has no stored response (response removed)")
    if trail.finish is None:
        problems.append(f"sitting {sitting.id}: no exam.finish event")
    elif trail.finish.get("decision") != sitting.decision:
        problems.append(f"sitting {sitting.id}: decision {sitting.decision!r} differs from its exam.finish event "
                        f"({trail.finish.get('decision')!r}) (result altered)")
    return problems


def _answers_of(db: Session, session_ids: Sequence[str]) -> dict[str, list[StoredAnswer]]:
    answers: dict[str, list[StoredAnswer]] = {}
    for session_id, *values in db.execute(
        select(Response.session_id, Response.seq, Response.item_id, Response.choice, Response.score, Response.scored)
        .where(Response.session_id.in_(session_ids)).order_by(Response.session_id, Response.seq)
    ):
        answers.setdefault(session_id, []).append(StoredAnswer(*values))
    return answers


def _items_of(db: Session, item_ids: set[int] | None) -> dict[int, _ItemFacts]:
    """Key facts of the given item versions (all of them with None)."""
    query = select(Item.id, Item.external_id, Item.version, Item.key_index)
    if item_ids is not None:
        query = query.where(Item.id.in_(sorted(item_ids)))
    return {item_id: _ItemFacts(*facts) for item_id, *facts in db.execute(query)}


def _start_events(db: Session, session_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    subjects = [audit.SESSION_PREFIX + s for s in session_ids]
    rows = db.execute(select(AuditEvent.subject, AuditEvent.data)
                      .where(AuditEvent.kind == "exam.start", AuditEvent.subject.in_(subjects)))
    return {subject[len(audit.SESSION_PREFIX):]: data if isinstance(data, dict) else {} for subject, data in rows}
