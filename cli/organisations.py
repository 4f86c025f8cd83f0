"""`certamen org`: an employer's organisation, its people (from a roster file) and its assignments."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import CommandError, add_json_option, emit, parse_when, session_factory
from storage.db import transaction


def cmd_org_create(args: argparse.Namespace) -> None:
    from organisations.organisations import create_organisation

    with transaction(session_factory()) as db:
        org = create_organisation(db, args.slug, args.name, actor="cli", default_due_days=args.due_days)
        print(f"organisation {org.slug} ({org.name}) created")


def cmd_org_enrol(args: argparse.Namespace) -> None:
    from organisations.enrolment import enrol
    from organisations.organisations import organisation
    from organisations.roster_csv import MAX_BYTES

    path = Path(args.csv)
    if path.stat().st_size > MAX_BYTES:
        raise CommandError(f"{path}: {path.stat().st_size / 1e6:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
    with transaction(session_factory()) as db:
        report = enrol(db, organisation(db, args.slug), path.read_bytes(), actor="cli",
                       deactivate_missing=args.deactivate_missing)
    emit(args, report.as_dict(), lambda r: ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in r.items()))


def cmd_org_assign(args: argparse.Namespace) -> None:
    from organisations.assignments import assign
    from organisations.organisations import organisation

    emails = None
    if args.list:
        emails = [line.strip() for line in Path(args.list).read_text().splitlines() if line.strip()]
    with transaction(session_factory()) as db:
        assignment, reached = assign(db, organisation(db, args.slug), exam_id=args.exam, due_at=parse_when(args.due),
                                     department=args.department, site=args.site, emails=emails,
                                     due_days=args.due_days, actor="cli")
        summary = {"assignment": assignment.id, "exam": args.exam, "scope": assignment.scope, "people": reached,
                   "standing": assignment.standing}
    emit(args, summary, lambda s: f"assignment {s['assignment']}: {s['exam']} for {s['people']} people "
                                  f"({s['scope']}{', also new hires' if s['standing'] else ''})")


def register(sub: argparse._SubParsersAction) -> None:
    org = sub.add_parser("org", help="organisations: create, enrol people, assign exams").add_subparsers(
        dest="org_command", required=True)
    create = org.add_parser("create", help="create an organisation")
    create.add_argument("slug", help="short name used in URLs and commands, e.g. acme-uk")
    create.add_argument("--name", required=True, help="the organisation's name as people know it")
    create.add_argument("--due-days", type=int, default=30,
                        help="days a person enrolled later has to complete a standing assignment (default 30)")
    create.set_defaults(func=cmd_org_create)

    enrol = org.add_parser("enrol", help="enrol or update people from a roster CSV (all or nothing)")
    enrol.add_argument("slug", help="the organisation")
    enrol.add_argument("--csv", required=True, help="columns: name, email (required), employee_id, department, "
                                                     "site, manager_email, status (active or left)")
    enrol.add_argument("--deactivate-missing", action="store_true",
                       help="the file is the whole roster: deactivate everyone it does not list")
    add_json_option(enrol)
    enrol.set_defaults(func=cmd_org_enrol)

    assign = org.add_parser("assign", help="assign an exam to everyone, a department, a site or a list")
    assign.add_argument("slug", help="the organisation")
    assign.add_argument("--exam", required=True, help="the exam's id (certamen exam list)")
    assign.add_argument("--due", required=True, help="due date for the people it reaches now (YYYY-MM-DD)")
    scope = assign.add_mutually_exclusive_group()
    scope.add_argument("--department", help="only this department")
    scope.add_argument("--site", help="only this site")
    scope.add_argument("--list", help="a file of e-mail addresses, one per line (no later hires)")
    assign.add_argument("--due-days", type=int, help="days later hires get (default: the organisation's)")
    add_json_option(assign)
    assign.set_defaults(func=cmd_org_assign)
