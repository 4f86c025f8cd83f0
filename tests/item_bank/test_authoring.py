"""Item workflow transitions and bank statistics."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from item_bank.authoring import WorkflowError, bank_stats, set_status
from item_bank.loader import active_parameter_set
from storage import AuditEvent
from storage.db import make_engine, make_session_factory, transaction


@pytest.fixture
def factory(sqlite_url):
    return make_session_factory(make_engine(sqlite_url))


def test_retiring_an_operational_item_publishes_a_set_without_it(factory):
    with transaction(factory) as db:
        before = active_parameter_set(db)
        item = set_status(db, "DEF-003", "retired", actor="reviewer:ana")
        assert item.status_changed_by == "reviewer:ana" and item.status_changed_at is not None
    with transaction(factory) as db:
        after = active_parameter_set(db)
        assert after.id != before.id and after.previous_id == before.id
        assert len(after.parameters) == len(before.parameters) - 1
        assert item.id not in {p.item_id for p in after.parameters}
        event = db.execute(select(AuditEvent).where(AuditEvent.kind == "item.status")).scalar_one()
        assert event.data == {"from": "operational", "to": "retired", "version": 1}


@pytest.mark.parametrize("to, message", [
    ("review", "cannot go from operational to review"),
    ("published", "unknown status"),
])
def test_illegal_transitions_are_refused(factory, to, message):
    with transaction(factory) as db, pytest.raises(WorkflowError, match=message):
        set_status(db, "DEF-003", to, actor="x")


def test_retired_is_final_and_unknown_items_are_reported(factory):
    with transaction(factory) as db:
        set_status(db, "DEF-003", "retired", actor="x")
    with transaction(factory) as db, pytest.raises(WorkflowError, match="none \\(final\\)"):
        set_status(db, "DEF-003", "draft", actor="x")
    with transaction(factory) as db, pytest.raises(LookupError):
        set_status(db, "DEF-999", "retired", actor="x")


def test_stats(factory):
    with transaction(factory) as db:
        stats = bank_stats(db)
    assert stats["total"] == sum(stats["by_area"].values()) == sum(stats["by_status"].values())
    assert len(stats["by_area"]) == 10 and min(stats["by_area"].values()) >= 20
    assert stats["parameter_set"]["provisional"] is True
