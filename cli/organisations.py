"""`certamen org`: an employer's organisation, its people (from a roster file) and its assignments."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import CommandError, add_json_option, emit, parse_when, session_factory, settings
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


def cmd_org_invite(args: argparse.Namespace) -> None:
    from organisations.invitations import invite
    from organisations.organisations import organisation

    with transaction(session_factory()) as db:
        link = invite(db, organisation(db, args.slug), actor=f"cli:{args.by}" if args.by else "cli", days=args.days,
                      email_domain=args.domain)
    print(link.url(settings().public_url))  # the secret is the fragment: never sent to a server, never logged
    print(f"anyone signed in who opens it{' with an address at ' + args.domain if args.domain else ''} joins "
          f"{args.slug}, until {link.expires_at.isoformat(timespec='minutes')}", file=sys.stderr)


def cmd_staff_add(args: argparse.Namespace) -> None:
    from organisations.organisations import organisation
    from organisations.staff import add_staff

    with transaction(session_factory()) as db:
        org = organisation(db, args.org) if args.org else None
        account, link = add_staff(db, email=args.email, role=args.role, organisation=org, name=args.name or "",
                                  actor=f"cli:{args.by}" if args.by else "cli")
        where = f" in {org.slug}" if org else ""
        print(link.url(settings().public_url))  # the secret is the fragment (after '#'): never sent to a server
        print(f"{account.email} is {args.role}{where}; the link signs them in once, until "
              f"{link.expires_at.isoformat(timespec='minutes')}, to choose a password", file=sys.stderr)


def cmd_staff_link(args: argparse.Namespace) -> None:
    from organisations.staff import StaffError, create_link
    from storage import StaffAccount

    with transaction(session_factory()) as db:
        account = db.query(StaffAccount).filter_by(email=(args.email or "").strip().lower()).one_or_none()
        if account is None:
            raise StaffError("no staff account has that e-mail address (certamen staff add creates one)")
        link = create_link(db, account, actor=f"cli:{args.by}" if args.by else "cli", minutes=args.minutes)
    print(link.url(settings().public_url))
    print(f"valid once, for {args.minutes} minutes", file=sys.stderr)


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

    inv = org.add_parser("invite", help="print an invitation link people open to join the organisation themselves")
    inv.add_argument("slug", help="the organisation")
    inv.add_argument("--days", type=int, default=30, help="how long the link works (1 to 365 days, default 30)")
    inv.add_argument("--domain", help="only people whose e-mail address is at this domain may join with it")
    inv.add_argument("--by", help="who makes it (audited)")
    inv.set_defaults(func=cmd_org_invite)

    staff = sub.add_parser("staff", help="console accounts: HR, compliance, managers, administrators").add_subparsers(
        dest="staff_command", required=True)
    add = staff.add_parser("add", help="give someone a role (creating their account) and print a one-time sign-in link")
    add.add_argument("--email", required=True, help="their work e-mail address (their console user name)")
    add.add_argument("--role", required=True, choices=["org_admin", "hr", "manager", "admin", "psychometrician"],
                     help="org_admin, hr or manager in one organisation (--org); admin or psychometrician for the "
                          "whole platform (no --org)")
    add.add_argument("--org", metavar="SLUG", help="the organisation the role is held in")
    add.add_argument("--name", help="their name as colleagues know it")
    add.add_argument("--by", help="who gives the role (audited)")
    add.set_defaults(func=cmd_staff_add)
    link = staff.add_parser("link", help="print a new one-time sign-in link for a staff member (lost password)")
    link.add_argument("email", help="the staff member's e-mail address")
    link.add_argument("--minutes", type=int, default=15, choices=range(1, 61), metavar="1..60",
                      help="how long the link stays valid (default 15)")
    link.add_argument("--by", help="who asks for it (audited)")
    link.set_defaults(func=cmd_staff_link)
