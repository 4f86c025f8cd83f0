"""Starting a sitting: its snapshot of the exam's rules, its seed, its pretest items and its first item."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from item_bank import audit
from item_bank.delivery.engine_sessions import cache, replay
from item_bank.delivery.errors import Conflict, NotFound
from item_bank.delivery.rows import SittingRow
from item_bank.delivery.statements import PRETEST_ITEMS, START_CONTEXT
from item_bank.delivery.timing import close_if_overdue
from item_bank.exposure import pinned_parameters
from item_bank.integrity import IntegrityRules, RuleViolation, check_may_start
from item_bank.runtime import pool_for, remember_snapshot, session_config, snapshot_digest
from storage import Exam, Sitting, utcnow


def start_sitting(db: Session, *, candidate_id: int, exam_id: str,
                  may_start: Callable[[Session, int, Exam], None] | None = None) -> Sitting:
    """Start an exam, or return the sitting already in progress (one active sitting per exam).

    `may_start(db, candidate_id, exam)` is a further check a new sitting must pass (it raises to refuse;
    the API passes certs' renewal window for recertification exams); resuming does not call it.
    """
    context = db.execute(START_CONTEXT, {"exam_id": exam_id, "candidate_id": candidate_id}).one_or_none()
    if context is None or not context[0].is_active:
        raise NotFound(f"no active exam {exam_id!r}")
    exam, params, _exposure, running_id = context
    running = db.get(Sitting, running_id) if running_id is not None else None
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
    snapshot["pretest_plan"] = seed_pretest_items(db, exam, seed)
    row = Sitting(
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
        pool = pool_for(db, params.id, snapshot["areas"])
        engine_session = replay(pool, row, [])
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
    cache.keep((pool.database, row.id), engine_session, SittingRow.of(row), head)
    remember_snapshot(db, row.id, snapshot)  # for a read of the sitting here later (the last answer's)
    return row


def seed_pretest_items(db: Session, exam: Exam, seed: int) -> dict[str, int]:
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
    candidates = db.execute(PRETEST_ITEMS, {"areas": list(exam.areas)}).scalars().all()
    if not candidates:
        return {}
    count = min(most, len(candidates), first_possible_stop - 1)
    items = rng.choice(candidates, size=count, replace=False)
    positions = rng.choice(np.arange(2, first_possible_stop + 1), size=count, replace=False)
    return {str(int(p)): int(i) for p, i in zip(sorted(positions), items, strict=True)}


def pretest_plan(row: Any) -> dict[int, int]:
    """seq -> item id of the pretest items this sitting was seeded with at its start (`row` needs
    cat_config)."""
    return {int(seq): int(item_id) for seq, item_id in (row.cat_config.get("pretest_plan") or {}).items()}
