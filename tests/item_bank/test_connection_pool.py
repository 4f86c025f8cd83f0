"""Pooled PostgreSQL connections: pinged before use only after sitting idle, and replaced when dead."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from storage import db

pytestmark = pytest.mark.postgres


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(url: str, pid: int) -> None:
    """What a database restart or a dropped connection does to a pooled connection."""
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(postgres_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every returned connection counts as idle
    engine = db.make_engine(postgres_url)
    try:
        first = backend_pid(engine)
        terminate(postgres_url, first)
        second = backend_pid(engine)  # no error: the ping found the connection dead and the pool reconnected
        assert second != first
        assert backend_pid(engine) == second  # the new connection is pooled and reused
    finally:
        engine.dispose()


def test_a_connection_in_recent_use_is_not_pinged_and_the_pool_recovers_after_one_failure(
        postgres_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never idle long enough to be pinged
    engine = db.make_engine(postgres_url)
    try:
        first = backend_pid(engine)
        terminate(postgres_url, first)
        with pytest.raises(DBAPIError) as failed:  # nothing checked it: the request using it fails
            backend_pid(engine)
        assert failed.value.connection_invalidated
        assert backend_pid(engine) != first  # the pool dropped it; the next request reconnects
    finally:
        engine.dispose()
