"""Time limits: a sitting stores its deadline; an answer after it is refused and the sitting is scored on
what was answered in time."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from item_bank.delivery.engine_sessions import pool_of, replay
from item_bank.delivery.finishing import finish, record_finish
from item_bank.delivery.rows import SittingRow, StoredAnswer
from item_bank.delivery.statements import get_sitting, stored_answers
from storage import as_utc, utcnow

# Answers that arrive this late after the deadline still count: the page was submitted in time.
DEADLINE_GRACE = dt.timedelta(seconds=10)


class Timed(Protocol):
    """A sitting as far as its time limit goes: a SittingRow, the ORM row or a result row."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def deadline(self) -> dt.datetime | None: ...


def seconds_left(row: Timed) -> int | None:
    if row.deadline is None or row.state != "in_progress":
        return None
    return max(0, int((as_utc(row.deadline) - utcnow()).total_seconds()))


def is_overdue(row: Timed) -> bool:
    return row.state == "in_progress" and row.deadline is not None and utcnow() > as_utc(row.deadline) + DEADLINE_GRACE


def time_limit_decision(snapshot: dict[str, Any], scored: int, theta: float) -> str:
    """The decision on a sitting its time limit ended after `scored` scored answers. Fewer than the exam's
    minimum length is not enough evidence to certify anyone, so that is a fail; otherwise the estimate
    decides."""
    enough = scored >= int(snapshot.get("min_length", 1))
    return "pass" if enough and theta >= float(snapshot["cut_score"]) else "fail"


def end_at_time_limit(db: Session, row: SittingRow, responses: Sequence[StoredAnswer]) -> None:
    """Ends `row` on what was answered in time (time_limit_decision); the caller writes it."""
    pool = pool_of(db, row)
    scored = [r for r in responses if r.scored]
    engine_session = replay(pool, row, scored)
    row.theta, row.se = float(engine_session.theta), float(engine_session.se)
    finish(row, pool, scored, time_limit_decision(row.cat_config, len(scored), engine_session.theta), "time_limit")


def close_if_overdue(db: Session, row: Timed) -> SittingRow | None:
    """Ends a sitting whose time limit has passed (called whenever a learner looks at it): the sitting as
    closed, or None if its time was not up. The session's ORM row, if it holds one, shows the closing."""
    if not is_overdue(row):
        return None
    locked = get_sitting(db, row.id, for_update=True)
    if not is_overdue(locked):  # closed meanwhile by an answer or another look
        return None
    responses = stored_answers(db, locked.id)
    closed = SittingRow.of(locked)
    end_at_time_limit(db, closed, responses)
    closed.copy_outcome_to(locked)  # written by the unit of work, which the event's record flushes first
    record_finish(db, closed, len(responses), actor="system", head=None)
    return closed
