"""Shared fixtures: databases (SQLite and a real PostgreSQL server), the app, role tokens."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))  # test helper modules

from pg_cluster import PostgresCluster  # noqa: E402
from vcv_oracle import VCV, Vcv  # noqa: E402

# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL cluster on loopback for the whole test session."""
    cluster = PostgresCluster(durable=False)
    if cluster.bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make test` installs it (scripts/install-system-deps.sh)")
        pytest.skip("PostgreSQL is not installed (make test installs it)")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop(immediate=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server for one test."""
    name = "t_" + uuid.uuid4().hex[:12]
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


# ---------------------------------------------------------------- databases and the app


def prepare_database(url: str) -> None:
    """Migrate an empty database and load the bundled bank, as `certamen init` does."""
    from cli.database import initialise

    initialise(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A prepared database made once; each test gets a copy (loading derives exposure controls)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    prepare_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server):
    prepare_database(postgres_server.create_database("template_certamen"))
    return "template_certamen"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path):
    """An empty database, on each supported backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A migrated database holding the bundled bank, on each supported backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "certamen.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_prepared_url")


@pytest.fixture
def postgres_prepared_url(postgres_server, postgres_template):
    name = "t_" + uuid.uuid4().hex[:12]
    yield postgres_server.create_database(name, template=postgres_template)
    postgres_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template):
    """A prepared SQLite database (a copy of the session's template)."""
    path = tmp_path / "certamen.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing():
    """argon2's production settings cost ~0.1 s per hash; the tests hash hundreds of passwords."""
    from item_bank import accounts

    accounts.use_cheap_hashing_for_tests()


@pytest.fixture
def factory(database_url):
    """Sessions on `database_url` (SQLite, then PostgreSQL), for tests below the web app."""
    from storage.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def app(database_url, tmp_path):
    from dataclasses import replace

    from learners import GENEROUS_RATE_LIMITS

    from api import create_app
    from settings import Settings

    settings = replace(Settings.from_env(), instance_dir=tmp_path / "instance")  # its outbox too
    application = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "TESTING": True,
                              "CERTAMEN_KEY_DIR": str(tmp_path / "keys"), **GENEROUS_RATE_LIMITS}, settings)
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def role_token(app):
    """A factory of bearer tokens for a role (hr tokens act for organisation `acme`)."""
    from api.auth import create_token
    from storage.db import transaction
    from tests.helpers.programme import acme_organisation_id

    def make(role: str) -> str:
        with transaction(app.extensions["db_factory"]) as db:
            return create_token(db, role, "test", organisation_id=acme_organisation_id(db) if role == "hr" else None)

    return make


@pytest.fixture(scope="session")
def vcv(tmp_path_factory) -> Vcv:
    """The conformance oracle ../shared/vc-verifier/vcv (installs its npm packages on first use)."""
    missing = None
    if not VCV.exists():
        missing = f"independent verifier not found at {VCV}"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            missing = f"`{tool}` is not installed (needed by {VCV})"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    workdir = tmp_path_factory.mktemp("vcv")
    probe = workdir / "probe.json"
    probe.write_text("{}")
    # The first call runs `npm ci` into ~/.cache/vc-verifier; give it time, once per session.
    proc = subprocess.run([str(VCV), "verify", str(probe)], capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
        pytest.fail(f"vcv does not run: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return Vcv(VCV, workdir)
