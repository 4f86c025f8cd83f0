"""Hash-chained audit trail: altering or deleting any row breaks every hash after it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from item_bank.models import AuditEvent, utcnow

GENESIS = "0" * 64


def _digest(prev_hash: str, at: str, actor: str, kind: str, subject: str, data: dict[str, Any]) -> str:
    body = json.dumps(
        {"prev": prev_hash, "at": at, "actor": actor, "kind": kind, "subject": subject, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _timestamp(event: AuditEvent) -> str:
    # SQLite drops tzinfo on the way back; hash a naive UTC ISO string so both backends agree.
    return event.at.replace(tzinfo=None).isoformat(timespec="microseconds")


def record(db: Session, *, actor: str, kind: str, subject: str, data: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event inside the caller's transaction (so it commits or rolls back with the change)."""
    if db.get_bind().dialect.name == "postgresql":
        # Serialise appends so two workers never chain onto the same predecessor.
        db.execute(text("SELECT pg_advisory_xact_lock(727001)"))
    last = db.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    event = AuditEvent(actor=actor, kind=kind, subject=subject, data=data or {}, prev_hash=prev, at=utcnow())
    event.hash = _digest(prev, _timestamp(event), actor, kind, subject, event.data)
    db.add(event)
    db.flush()
    return event


@dataclass
class ChainReport:
    ok: bool
    checked: int
    problems: list[str]


def verify_chain(db: Session) -> ChainReport:
    problems: list[str] = []
    prev = GENESIS
    count = 0
    for event in db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if event.prev_hash != prev:
            problems.append(f"event {event.id}: previous-hash link broken (a record before it was removed or changed)")
        expected = _digest(event.prev_hash, _timestamp(event), event.actor, event.kind, event.subject, event.data)
        if expected != event.hash:
            problems.append(f"event {event.id}: content does not match its hash (record altered)")
        prev = event.hash
    return ChainReport(ok=not problems, checked=count, problems=problems)
