"""Exam integrity rules stored per exam: retake waiting period, attempt limit, time limit.

Written in an exam's YAML as

    integrity:
      retake_wait_days: 7       # after a failed (or timed-out) attempt
      max_attempts: 3           # failed attempts in a row before an administrator must step in
      time_limit_minutes: 45    # shown to the learner as a countdown; none when absent

A pass resets the attempt count (the next sitting is a new certification cycle), and so does an
administrator's grant (`grant_attempt`), which also lifts a running waiting period. One sitting in
progress per candidate is enforced by the database (a partial unique index), not here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import audit
from storage import AttemptGrant, Sitting, as_utc, utcnow

FINISHED = ("completed", "abandoned")


class RuleViolation(CertamenError):
    """A sitting may not start (retake wait, attempt limit); `retry_at` says when it may, if ever."""

    kind = Kind.CONFLICT

    def __init__(self, message: str, retry_at: dt.datetime | None = None, *, kind: Kind | None = None):
        super().__init__(message, kind=kind)
        self.retry_at = retry_at


@dataclass(frozen=True)
class IntegrityRules:
    retake_wait_days: float = 0
    max_attempts: int | None = None
    time_limit_minutes: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IntegrityRules:
        """Refuses unknown keys and nonsense values, so a typo in an exam file fails the load."""
        if data is not None and not isinstance(data, dict):
            raise ValueError("integrity must be a mapping of settings")
        data = dict(data or {})
        unknown = sorted(set(data) - {"retake_wait_days", "max_attempts", "time_limit_minutes"})
        if unknown:
            raise ValueError(f"unknown integrity setting(s): {', '.join(unknown)}")

        def number(key: str, *, integer: bool = False, positive: bool = True) -> Any:
            value = data.get(key)
            if value is None:
                return None
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or (integer and not isinstance(value, int))):
                raise ValueError(f"integrity.{key} must be {'a whole' if integer else 'a'} number, not {value!r}")
            if value < 0 or (positive and value == 0):
                raise ValueError(f"integrity.{key} must be {'greater than' if positive else 'at least'} 0")
            return value

        return cls(retake_wait_days=number("retake_wait_days", positive=False) or 0,
                   max_attempts=number("max_attempts", integer=True),
                   time_limit_minutes=number("time_limit_minutes"))

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, 0)}

    def deadline(self, started: dt.datetime) -> dt.datetime | None:
        if self.time_limit_minutes is None:
            return None
        return started + dt.timedelta(minutes=self.time_limit_minutes)


# The candidate's finished sittings of the exam, each with the latest grant (no sittings: nothing to
# check). Built once, with bind parameters: building it per start cost as much as running it.
_LATEST_GRANT = (select(AttemptGrant.granted_at)
                 .where(AttemptGrant.candidate_id == bindparam("candidate_id"),
                        AttemptGrant.exam_id == bindparam("exam_id"))
                 .order_by(AttemptGrant.granted_at.desc()).limit(1).scalar_subquery())
_FINISHED_SITTINGS = (
    select(Sitting.decision, Sitting.finished_at, Sitting.started_at, _LATEST_GRANT.label("granted"))
    .where(Sitting.candidate_id == bindparam("candidate_id"), Sitting.exam_id == bindparam("exam_id"),
           Sitting.state.in_(FINISHED))
    .order_by(Sitting.started_at)
)


def check_may_start(db: Session, rules: IntegrityRules, *, candidate_id: int, exam_id: str,
                    now: dt.datetime) -> None:
    """Raises RuleViolation when the attempt limit is used up or the waiting period is running."""
    if rules.max_attempts is None and not rules.retake_wait_days:
        return
    history = db.execute(_FINISHED_SITTINGS, {"candidate_id": candidate_id, "exam_id": exam_id}).all()
    if not history:
        return
    granted = history[0].granted
    if granted is not None:
        history = [row for row in history if as_utc(row.finished_at or row.started_at) > as_utc(granted)]
    failures_in_a_row = 0
    for row in history:
        failures_in_a_row = 0 if row.decision == "pass" else failures_in_a_row + 1
    if rules.max_attempts is not None and failures_in_a_row >= rules.max_attempts:
        raise RuleViolation(f"you have used all {rules.max_attempts} attempts at this exam; "
                            "ask your administrator to allow another")
    if history and rules.retake_wait_days and history[-1].decision != "pass":
        retry_at = as_utc(history[-1].finished_at or history[-1].started_at) + dt.timedelta(days=rules.retake_wait_days)
        if retry_at > now:
            raise RuleViolation(f"you can retake this exam from {retry_at:%Y-%m-%d %H:%M} UTC", retry_at=retry_at)


def grant_attempt(db: Session, *, candidate_id: int, exam_id: str, actor: str, reason: str) -> AttemptGrant:
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("a reason is required to grant another attempt", kind=Kind.INVALID)
    grant = AttemptGrant(candidate_id=candidate_id, exam_id=exam_id, granted_by=actor, reason=reason[:2000],
                         granted_at=utcnow())
    db.add(grant)
    db.flush()
    audit.record(db, actor=actor, kind="exam.attempt_grant", subject=f"candidate:{candidate_id}",
                 data={"exam": exam_id, "reason": grant.reason})
    return grant

