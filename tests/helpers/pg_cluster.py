"""Throw-away PostgreSQL clusters on loopback, for the test suite and bench/load.py.

Debian's `initdb`/`pg_ctl` (newest installed version), a temporary data directory, trust
authentication for the `certamen` role, a free port on 127.0.0.1. Nothing here is used at run time.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "certamen"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root; the Debian package provides a `postgres` user for that."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresCluster:
    """`durable=False` (tests) turns fsync, full-page writes and synchronous commit off: fast, and
    fine for data thrown away; the load test measures with PostgreSQL's durable defaults."""

    def __init__(self, *, durable: bool, max_connections: int = 100, prefix: str = "certamen-pg-"):
        self.durable = durable
        self.max_connections = max_connections
        self.prefix = prefix
        self.bindir = postgres_bindir()
        self.datadir: Path | None = None
        self.port = 0
        self.started = False

    def start(self) -> None:
        """Raises RuntimeError (with PostgreSQL's last line of complaint) if the cluster cannot start."""
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
        self.datadir = Path(tempfile.mkdtemp(prefix=self.prefix))
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.port = free_port()
        options = (f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections={self.max_connections}")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        try:
            self._run(["initdb", "-D", str(self.datadir), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale"])
            self._run(["pg_ctl", "-D", str(self.datadir), "-o", options, "-w", "-t", "60",
                       "-l", str(self.datadir / "server.log"), "start"])
            self.started = True
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"{Path(exc.cmd[-1] if exc.cmd else '?').name}: {detail[0]}") from None

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (empty, or a copy of `template`); its SQLAlchemy URL."""
        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{dbname}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, TypeError):
            return None

    def log_tail(self, lines: int = 40) -> list[str]:
        try:
            return (self.datadir / "server.log").read_text(errors="replace").splitlines()[-lines:]
        except (OSError, TypeError):
            return []

    def stop(self, *, immediate: bool = False) -> None:
        """`immediate`: no checkpoint, as the data is thrown away anyway."""
        if self.started:
            subprocess.run(as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m",
                                        "immediate" if immediate else "fast", "-w", "-t", "30", "stop"]),
                           capture_output=True, timeout=60)
            self.started = False
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None

    def _run(self, cmd: list[str]) -> None:
        subprocess.run(as_postgres([str(self.bindir / cmd[0]), *cmd[1:]]), check=True, capture_output=True,
                       timeout=120)
