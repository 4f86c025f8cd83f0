"""Migration 0008 on a database of the previous schema (0007): no credential stays immortal or exposed.

Before it, staff tokens never expired, sign-in links carried their secret in a logged URL path, and
the web pages kept a bearer token readable in the session cookie. The upgrade gives old staff
tokens an expiry and revokes the links and web sessions that may have leaked; API clients' learner
tokens (never in a cookie or a URL) keep working. Run on SQLite and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from migrations import upgrade
from storage import ApiToken, as_utc, utcnow
from storage.db import Base, make_engine, make_session_factory, transaction

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
ROWS = [  # (id, role, label, candidate, expires_at, revoked)
    (1, "admin", "ops", None, None, False),
    (2, "hr", "payroll", None, None, False),
    (3, "psychometrician", "old", None, None, True),
    (4, "learner", "api", 1, T0 + dt.timedelta(days=400), False),
    (5, "learner", "web", 1, T0 + dt.timedelta(days=400), False),
    (6, "learner", "sign-in link", 1, T0 + dt.timedelta(days=400), False),
    (7, "signin_link", "sign-in link", 1, T0 + dt.timedelta(days=400), False),
]


def _write_0007_rows(url: str) -> None:
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(t["candidates"].insert(), [{"id": 1, "name": "Old Learner", "email": "old@example.com",
                                                 "created_at": T0}])
        conn.execute(t["api_tokens"].insert(), [
            {"id": i, "token_hash": f"{i:064x}", "role": role, "label": label, "candidate_id": candidate,
             "expires_at": expires, "revoked": revoked, "created_at": T0}
            for i, role, label, candidate, expires, revoked in ROWS])
    engine.dispose()


def test_upgrade_expires_old_staff_tokens_and_revokes_what_may_have_leaked(empty_database_url):
    upgrade(empty_database_url, "0007")
    _write_0007_rows(empty_database_url)
    before = utcnow()
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            rows = {row.id: row for row in db.execute(select(ApiToken)).scalars()}
        for staff in (1, 2, 3):
            expires = as_utc(rows[staff].expires_at)
            assert before + dt.timedelta(days=89) < expires < utcnow() + dt.timedelta(days=91), staff
        assert not rows[1].revoked and not rows[2].revoked and rows[3].revoked
        assert rows[3].revoked_by is None  # revoked before: left as it was
        assert not rows[4].revoked  # an API client's bearer token: never in a cookie or a URL
        for exposed in (5, 6, 7):
            assert rows[exposed].revoked and rows[exposed].revoked_by == "migration 0008", exposed
            assert rows[exposed].revoked_at is not None
        assert all(row.last_used_at is None for row in rows.values())
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            assert conn.execute(sa.text("SELECT COUNT(*) FROM signin_failures")).scalar() == 0
    finally:
        engine.dispose()
    assert [d for d in diffs if "api_tokens" in repr(d) or "signin_failures" in repr(d)] == []
