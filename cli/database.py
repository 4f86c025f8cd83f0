"""`certamen init` and `certamen db`: bring a database to the current schema, and a new one to a usable bank."""
from __future__ import annotations

import argparse

from cli.bank import cmd_bank_load
from cli.common import database_url


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def initialise(url: str) -> None:
    """What `certamen init` does to a database, without its messages: the current schema, then the bundled bank
    (with provisional parameters from a simulated pilot). The tests and benchmarks start from it too."""
    from calibration.pilot import pilot_parameters
    from item_bank.content import read_bank
    from item_bank.loader import store_bank
    from migrations import upgrade
    from storage.db import make_engine, make_session_factory, transaction

    upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as db:
            store_bank(db, read_bank(), provisional=pilot_parameters)
    finally:
        engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from migrations import upgrade

    upgrade(database_url())
    print(f"database at {_redacted(database_url())} is up to date")


def cmd_init(args: argparse.Namespace) -> None:
    cmd_db_upgrade(args)
    cmd_bank_load(argparse.Namespace(content=None, json=False))


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("init", help="migrate the database and load the bank").set_defaults(func=cmd_init)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
