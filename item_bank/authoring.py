"""The authoring workflow: item statuses with who/when, and bank statistics."""
from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import audit
from item_bank.loader import active_parameter_set, publish_parameter_set
from storage import Item, ItemParameter, utcnow

# draft -> review -> pretest -> operational -> retired; review may send an item back to draft.
TRANSITIONS: dict[str, set[str]] = {
    "draft": {"review", "retired"},
    "review": {"draft", "pretest", "retired"},
    "pretest": {"operational", "review", "retired"},
    "operational": {"retired"},
    "retired": set(),
}
DIFFICULTY_BANDS = (("easy", -10.0, -0.7), ("medium", -0.7, 0.7), ("hard", 0.7, 10.0))


class WorkflowError(CertamenError, ValueError):
    """An item status change the review workflow does not allow."""

    kind = Kind.CONFLICT


def current_item(db: Session, external_id: str) -> Item:
    item = db.execute(
        select(Item).where(Item.external_id == external_id, Item.is_current.is_(True))
    ).scalar_one_or_none()
    if item is None:
        raise LookupError(f"no item {external_id!r}")
    return item


def set_status(db: Session, external_id: str, status: str, *, actor: str) -> Item:
    """Move an item along the workflow; leaving 'operational' publishes a parameter set without it."""
    item = current_item(db, external_id)
    if status not in TRANSITIONS:
        raise WorkflowError(f"unknown status {status!r} (one of {', '.join(TRANSITIONS)})")
    if status not in TRANSITIONS[item.status]:
        allowed = ", ".join(sorted(TRANSITIONS[item.status])) or "none (final)"
        raise WorkflowError(f"{external_id}: cannot go from {item.status} to {status}; allowed: {allowed}")
    active = active_parameter_set(db)
    if status == "operational":
        has_parameters = active is not None and any(p.item_id == item.id for p in active.parameters)
        if not has_parameters:
            raise WorkflowError(f"{external_id}: calibrate it onto the bank scale before making it operational")
    previous = item.status
    item.status = status
    item.status_changed_by = actor
    item.status_changed_at = utcnow()
    audit.record(db, actor=actor, kind="item.status", subject=external_id,
                 data={"from": previous, "to": status, "version": item.version})
    if previous == "operational" and active is not None:
        rows = {p.item_id: _parameter_row(p) for p in active.parameters if p.item_id != item.id}
        publish_parameter_set(db, rows, label=f"{active.label} without {external_id}", source=active.source,
                              provisional=active.provisional, actor=actor,
                              calibration_run_id=active.calibration_run_id)
    return item


def _parameter_row(p: ItemParameter) -> dict[str, Any]:
    return dict(model=p.model, a=p.a, b=p.b, c=p.c, d=p.d, se_a=p.se_a, se_b=p.se_b, se_c=p.se_c)


def difficulty_band(value: float | None) -> str:
    if value is None:
        return "unknown"
    return next(name for name, low, high in DIFFICULTY_BANDS if low <= value < high)


def bank_stats(db: Session) -> dict[str, Any]:
    items = db.execute(select(Item).where(Item.is_current.is_(True))).scalars().all()
    active = active_parameter_set(db)
    by_area_band: dict[str, Counter] = {}
    for item in items:
        by_area_band.setdefault(item.area, Counter())[difficulty_band(item.intended_difficulty)] += 1
    return {
        "total": len(items),
        "by_area": dict(sorted(Counter(i.area for i in items).items())),
        "by_status": dict(sorted(Counter(i.status for i in items).items())),
        "by_difficulty": dict(Counter(difficulty_band(i.intended_difficulty) for i in items)),
        "by_area_and_difficulty": {area: dict(c) for area, c in sorted(by_area_band.items())},
        "key_positions": dict(sorted(Counter("ABCD"[i.key_index] for i in items).items())),
        "parameter_set": None if active is None else {
            "id": active.id, "label": active.label, "provisional": active.provisional, "items": len(active.parameters)},
    }
