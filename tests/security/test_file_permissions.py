"""Files that hold secrets are the owner's alone: the SQLite database (answer keys, password
hashes, the audit chain) with its -wal/-shm files, and the key directory with every file in it.
Checked under a permissive umask, the usual default of a shell."""
from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from certs.keys import KeyStore
from storage.db import make_engine


@pytest.fixture
def permissive_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_and_its_journal_files_are_owner_only(tmp_path, permissive_umask):
    engine = make_engine(f"sqlite:///{tmp_path / 'certamen.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["certamen.sqlite", "certamen.sqlite-shm", "certamen.sqlite-wal"]
        assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    engine.dispose()


def test_key_directory_files_are_owner_only(tmp_path, permissive_umask):
    keys = KeyStore(tmp_path / "keys", host="certs.example.test")
    keys.active_key()
    keys.identity_salt("https://certs.example.test/c/1")
    keys.rotate()
    assert mode(keys.key_dir) == 0o700
    files = [p for p in keys.key_dir.iterdir()]
    assert {p.name for p in files} >= {"k2.key", "keys.json", "identity.secret"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_certamen_init_creates_the_database_owner_only(tmp_path, permissive_umask):
    """Migrations open the database first: it must not be created with the umask's mode there."""
    from migrations import upgrade

    path = tmp_path / "fresh.sqlite"
    upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_only_sqlite_urls_create_a_file(tmp_path, monkeypatch):
    from storage.db import create_private_sqlite_file

    monkeypatch.chdir(tmp_path)
    for url in ("postgresql://u@localhost/certamen", "postgresql+psycopg://u@h:5432/t_abc", "sqlite://",
                "sqlite:///:memory:"):
        create_private_sqlite_file(url)
    assert list(tmp_path.iterdir()) == []
