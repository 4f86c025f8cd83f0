"""`certamen learner` and `certamen token`: what an operator does for learners and for staff API access."""
from __future__ import annotations

import argparse
import sys

from sqlalchemy import select

from cli.common import CommandError, add_json_option, emit, session_factory, settings
from storage.db import transaction


def cmd_learner_link(args: argparse.Namespace) -> None:
    from item_bank.accounts import create_signin_link

    public_url = settings().public_url
    with transaction(session_factory()) as db:
        link = create_signin_link(db, args.email, actor="cli", minutes=args.minutes)
    print(link.url(public_url))  # the secret is the fragment (after '#'): never sent to a server, never logged
    print(f"valid once, for {args.minutes} minutes (until {link.expires_at.isoformat(timespec='minutes')})",
          file=sys.stderr)


def cmd_learner_grant_attempt(args: argparse.Namespace) -> None:
    from item_bank.integrity import grant_attempt
    from storage import Candidate, Exam

    with transaction(session_factory()) as db:
        candidate = db.execute(select(Candidate).where(Candidate.email == args.email.strip().lower())).scalar()
        if candidate is None:
            raise CommandError(f"no learner account has the e-mail address {args.email!r}")
        if db.get(Exam, args.exam) is None:
            raise CommandError(f"no exam {args.exam!r}")
        grant_attempt(db, candidate_id=candidate.id, exam_id=args.exam, actor="cli", reason=args.reason)
    print(f"{args.email} may sit {args.exam} again now")


def cmd_token_create(args: argparse.Namespace) -> None:
    from item_bank import staff_tokens
    from organisations.organisations import organisation

    with transaction(session_factory()) as db:
        org_id = organisation(db, args.org).id if args.org else None
        token = staff_tokens.create(db, args.role, args.label or "", expires_days=args.expires_days,
                                    actor=f"cli:{args.by}" if args.by else "cli", organisation_id=org_id)
    print(token)  # the only time it is shown: stdout holds nothing else, for $(certamen token create ...)
    print(f"expires in {args.expires_days} days; `certamen token list` shows it, `certamen token revoke` ends it",
          file=sys.stderr)


def cmd_token_list(args: argparse.Namespace) -> None:
    from item_bank import staff_tokens

    with transaction(session_factory()) as db:
        rows = staff_tokens.listing(db)

    def text(rows: list[dict]) -> str:
        head = (f"{'id':>5}  {'role':<15} {'organisation':<16} {'status':<8} {'created':<20} {'expires':<20} "
                f"{'last used':<20} label")
        lines = [head]
        for r in rows:
            lines.append(f"{r['id']:>5}  {r['role']:<15} {r['organisation'] or '-':<16} {r['status']:<8} "
                         f"{r['created'] or '-':<20} "
                         f"{r['expires'] or '-':<20} {r['last_used'] or 'never':<20} {r['label']}"
                         + (f"  [revoked {r['revoked']} by {r['revoked_by']}]" if r["revoked"] else ""))
        return "\n".join(lines)

    emit(args, rows, text)


def cmd_token_revoke(args: argparse.Namespace) -> None:
    from item_bank import staff_tokens

    with transaction(session_factory()) as db:
        done = staff_tokens.revoke(db, args.id, by=f"cli:{args.by}", reason=args.reason or "")
    print(f"token {args.id} revoked: it is refused from now on" if done else f"token {args.id} was already revoked")


def register(sub: argparse._SubParsersAction) -> None:
    learner = sub.add_parser("learner", help="learner accounts").add_subparsers(dest="learner_command", required=True)
    link = learner.add_parser("link", help="print a one-time sign-in link (valid 15 minutes) for a learner")
    link.add_argument("email", help="the learner's e-mail address")
    link.add_argument("--minutes", type=int, default=15, help="how long the link stays valid (1 to 60, default 15)")
    link.set_defaults(func=cmd_learner_link)
    grant = learner.add_parser("grant-attempt", help="let a learner past an exam's attempt limit / waiting period")
    grant.add_argument("email", help="the learner's e-mail address")
    grant.add_argument("--exam", required=True, help="the exam's id")
    grant.add_argument("--reason", required=True, help="why (recorded)")
    grant.set_defaults(func=cmd_learner_grant_attempt)

    token = sub.add_parser("token", help="staff and integration API tokens").add_subparsers(dest="token_command",
                                                                                           required=True)
    create = token.add_parser("create", help="create a bearer token for a role (printed once)")
    create.add_argument("--role", required=True, choices=["hr", "psychometrician", "admin"],
                        help="the role it acts as")
    create.add_argument("--org", metavar="SLUG", help="the organisation an hr token acts for (required for hr; "
                                                      "it reads and acts on that organisation's data only)")
    create.add_argument("--label", help="what or who it is for (shown by `token list`)")
    create.add_argument("--expires-days", type=int, default=90, help="days until it expires (1 to 730, default 90)")
    create.add_argument("--by", help="who creates it (audited)")
    create.set_defaults(func=cmd_token_create)
    tlist = token.add_parser("list", help="every token: id, role, label, created, expires, last used, revoked "
                                          "(never the secret)")
    add_json_option(tlist)
    tlist.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", type=int, help="the token's id (see `token list`)")
    revoke.add_argument("--by", required=True, help="who revokes it (audited)")
    revoke.add_argument("--reason", help="why (audited)")
    revoke.set_defaults(func=cmd_token_revoke)
