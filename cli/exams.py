"""`certamen exam` and `certamen simulate`: the stored exams, and how they behave with simulated examinees."""
from __future__ import annotations

import argparse

from sqlalchemy import select

from cli.common import CommandError, add_json_option, emit, session_factory
from storage.db import transaction


def cmd_exam_list(args: argparse.Namespace) -> None:
    from storage import Exam

    with transaction(session_factory()) as db:
        exams = [{"id": e.id, "title": e.title, "kind": e.kind, "version": e.version, "cut_score": e.cut_score,
                  "areas": e.areas, "active": e.is_active}
                 for e in db.execute(select(Exam).order_by(Exam.id)).scalars()]
    emit(args, exams, lambda rows: "\n".join(f"{e['id']:<28} v{e['version']}  {e['kind']:<16} {e['title']}"
                                            for e in rows) or "no exams (run `certamen bank load`)")


def cmd_simulate(args: argparse.Namespace) -> None:
    from item_bank.simulation import simulate_exam

    if args.n < 1 or args.n > 1_000_000:
        raise CommandError("--n must be between 1 and 1,000,000")
    with transaction(session_factory()) as db:
        report = simulate_exam(db, args.exam, n=args.n, seed=args.seed)
    emit(args, report, lambda r: "\n".join(f"{k:>24}: {v}" for k, v in r.items() if k != "exposure"))


def register(sub: argparse._SubParsersAction) -> None:
    exam = sub.add_parser("exam", help="exams").add_subparsers(dest="exam_command", required=True)
    listing = exam.add_parser("list", help="list stored exams")
    add_json_option(listing)
    listing.set_defaults(func=cmd_exam_list)

    sim = sub.add_parser("simulate", help="run simulated examinees through a stored exam")
    sim.add_argument("--exam", required=True, help="the exam's id (see `certamen exam list`)")
    sim.add_argument("--n", type=int, default=1000, help="how many examinees (1 to 1,000,000, default 1000)")
    sim.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same run (default 1)")
    add_json_option(sim)
    sim.set_defaults(func=cmd_simulate)
