"""Database plumbing: one declarative Base, an engine from DATABASE_URL, transactional scopes."""
from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

DEFAULT_SQLITE_PATH = Path("instance") / "certamen.sqlite"

# A pooled PostgreSQL connection back in the pool for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def normalize_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as hosting platforms hand them out) mean psycopg 3."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def database_url(url: str | None = None) -> str:
    """`url` (settings.Settings.database_url, from DATABASE_URL) normalized; without one, the SQLite file
    instance/certamen.sqlite (relative to the working directory)."""
    if url:
        return normalize_url(url)
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH.resolve()}"


def create_private_sqlite_file(url: str) -> None:
    """Create the SQLite file owner-only (0600) before SQLite creates it with the umask's mode: it
    holds answer keys, password hashes and the audit chain. SQLite gives its -wal and -shm files the
    database file's mode. An existing file with group/other access is reported, not changed."""
    parsed = make_url(url)
    path = parsed.database
    if not parsed.get_backend_name() == "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            log.warning("database file %s is readable by group/others (mode %o): chmod 600 it", path, mode)
        return
    except FileNotFoundError:
        return  # no such directory: SQLite will report it
    os.close(fd)


def make_engine(url: str | None = None) -> Engine:
    url = normalize_url(url) if url else database_url()
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # No JIT: Certamen's queries are short index look-ups whose cost estimates (correlated subqueries per
    # person) cross the JIT threshold, and compiling them took longer than running them (docs/benchmarks.md).
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args={"options": "-c jit=off"})
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only when it sat idle (the server may have restarted, a firewall may
    have dropped it). pool_pre_ping pings on every checkout: one round trip of the five an answer takes,
    although under load a connection returns to the pool and leaves it again within milliseconds. A
    connection that broke less than a second after its last use fails the request that takes it, and
    SQLAlchemy then discards the pool's older connections, so the next requests reconnect."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn, record) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        returned = record.info.get("returned_at")  # none: connected just now
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):
                # the pool drops this and every older connection, and hands out a new one
                raise InvalidatePoolError(f"pooled connection lost: {exc}") from exc
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def autocommit_connection(engine: Engine) -> Iterator[Connection]:
    """A pooled connection whose every statement commits on its own: no BEGIN and COMMIT round trips
    around a single statement, which sees (or writes) the same committed data either way."""
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def autocommit(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session on an `autocommit_connection`: for work that writes with one statement. Anything that
    writes twice belongs in `transaction`."""
    with autocommit_connection(factory.kw["bind"]) as conn, factory(bind=conn) as session:
        yield session


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
