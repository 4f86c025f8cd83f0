"""Request-scoped access to the database for the views."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from item_bank.db import transaction


def session_factory() -> sessionmaker[Session]:
    return current_app.extensions["db_factory"]


@contextmanager
def unit_of_work() -> Iterator[Session]:
    with transaction(session_factory()) as db:
        yield db
