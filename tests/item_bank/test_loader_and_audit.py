"""Loading is idempotent and versioned; the audit trail detects tampering."""
from __future__ import annotations

import dataclasses

from sqlalchemy import func, select, update

from item_bank.audit import verify_chain
from item_bank.content import read_bank
from item_bank.loader import store_bank
from migrations import upgrade
from storage import AuditEvent, Item, ParameterSet
from storage.db import make_engine, make_session_factory, transaction


def _factory(url):
    upgrade(url)
    return make_session_factory(make_engine(url))


def test_load_twice_changes_nothing_and_revision_keeps_old_version(empty_database_url):
    factory = _factory(empty_database_url)
    bank = read_bank()
    with transaction(factory) as db:
        first = store_bank(db, bank)
    with transaction(factory) as db:
        second = store_bank(db, bank)
    assert first.items_added == len(bank.items) and first.parameter_set_created
    assert second.items_added == 0 and second.items_unchanged == len(bank.items) and not second.parameter_set_created
    assert second.parameter_set_id == first.parameter_set_id

    revised = dataclasses.replace(bank.items[0], question=bank.items[0].question + " (revised)")
    with transaction(factory) as db:
        third = store_bank(db, dataclasses.replace(bank, items=[revised, *bank.items[1:]]))
    assert third.items_revised == 1 and third.parameter_set_created
    with transaction(factory) as db:
        versions = db.execute(select(Item.version, Item.is_current).where(Item.external_id == revised.external_id)
                              .order_by(Item.version)).all()
        assert versions == [(1, False), (2, True)]
        assert db.execute(select(func.count()).select_from(ParameterSet).where(ParameterSet.is_active)).scalar() == 1
        assert verify_chain(db).ok


def test_audit_chain_detects_altered_and_deleted_records(sqlite_url):
    factory = make_session_factory(make_engine(sqlite_url))
    with transaction(factory) as db:
        report = verify_chain(db)
        assert report.ok and report.checked > 10
        original = db.get(AuditEvent, 5).subject
        db.execute(update(AuditEvent).where(AuditEvent.id == 5).values(subject="forged"))
    with transaction(factory) as db:
        report = verify_chain(db)
        assert not report.ok and any("event 5" in p for p in report.problems)
        db.execute(update(AuditEvent).where(AuditEvent.id == 5).values(subject=original))
    with transaction(factory) as db:
        assert verify_chain(db).ok
    with transaction(factory) as db:
        db.delete(db.get(AuditEvent, 7))
    with transaction(factory) as db:
        report = verify_chain(db)
        assert not report.ok and report.problems == [
            "event 8 (global #8): 1 event(s) missing before it in its chain (records removed)"]
