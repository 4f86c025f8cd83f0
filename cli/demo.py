"""`certamen demo load`: the demo organisation (organisations.demo), so the employer console has something to
show; `make run` loads it after `certamen init`."""
from __future__ import annotations

import argparse

from cli.common import add_json_option, database_url, emit, issuer_settings, settings


def _factory():
    """Sessions on the database, where on PostgreSQL a commit does not wait for its flush to disk: the demo
    commits some 9,000 answers one by one, as delivery does, and with a disk flush each it takes minutes.
    A crash can lose only the last moments of them, and the next load finishes an interrupted one."""
    from sqlalchemy import event

    from storage.db import make_engine, make_session_factory

    engine = make_engine(database_url())
    if engine.dialect.name == "postgresql":
        @event.listens_for(engine, "connect")
        def _asynchronous_commit(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET synchronous_commit TO off")
            cursor.close()
            dbapi_conn.commit()
    return make_session_factory(engine)


DEMO_ADMIN = "admin@northwind.example"


def cmd_demo_load(args: argparse.Namespace) -> None:
    """Loads the demo, then prints a fresh one-time link for the demo's org admin to open the console with."""
    from organisations.demo import SLUG, load_demo_organisation
    from organisations.organisations import organisation
    from organisations.staff import add_staff
    from storage.db import transaction

    factory = _factory()
    try:
        report = load_demo_organisation(factory, issuer_settings(), seed=args.seed, people=args.people)
        with transaction(factory) as db:
            _, link = add_staff(db, email=DEMO_ADMIN, role="org_admin", organisation=organisation(db, SLUG),
                                name="Demo administrator", actor="demo")
    finally:
        factory.kw["bind"].dispose()
    console = link.url(settings().public_url)
    emit(args, vars(report) | {"console_signin_link": console},
         lambda _: f"{report.summary()}\nconsole: open {console} to sign in as the demo's org admin ({DEMO_ADMIN})")


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    load = demo.add_parser("load", help="load the demo organisation, Northwind Retail (does nothing if it is "
                                        "loaded already)")
    load.add_argument("--people", type=int, default=300, help="how many people it employs (default 300)")
    load.add_argument("--seed", type=int, default=2026, help="the roster and the plan of sittings (default 2026)")
    add_json_option(load)
    load.set_defaults(func=cmd_demo_load)
