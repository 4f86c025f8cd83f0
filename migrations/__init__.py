"""Running the Alembic migrations programmatically (the CLI and the tests use this)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.db import create_private_sqlite_file

MIGRATIONS = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    create_private_sqlite_file(url)  # before Alembic's engine creates it with the umask's mode
    command.upgrade(alembic_config(url), revision)
