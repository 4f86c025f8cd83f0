"""`certamen mail test ADDRESS`: send one message the way notices are sent, and say where it went."""
from __future__ import annotations

import argparse

from cli.common import CommandError, add_json_option, emit, settings


def cmd_mail_test(args: argparse.Namespace) -> None:
    from notifications.mail import Mail, MailError, mailer_for

    config = settings()
    if "@" not in args.address or any(c.isspace() for c in args.address.strip()):
        raise CommandError(f"{args.address!r} is not an e-mail address", code=1)
    mail = Mail(to=args.address.strip(), subject="Certamen: test message",
                text="This is a test message from Certamen. If you can read it, mail from this installation "
                     "reaches you.\n")
    try:
        where = mailer_for(config).send(mail)
    except MailError as exc:
        raise CommandError(f"the test message was not sent: {exc}", code=2) from None
    configured = bool(config.smtp_url)
    emit(args, {"sent": True, "to": mail.to, "via": "smtp" if configured else "outbox", "where": where},
         lambda r: f"sent to {r['to']} via {where}" if configured else
         f"no SMTP server is configured (CERTAMEN_SMTP_URL): the message was written to {where}")


def register(sub: argparse._SubParsersAction) -> None:
    mail = sub.add_parser("mail", help="outgoing mail").add_subparsers(dest="mail_command", required=True)
    test = mail.add_parser("test", help="send a test message to ADDRESS (SMTP, or the outbox folder)")
    test.add_argument("address", help="who receives it")
    add_json_option(test)
    test.set_defaults(func=cmd_mail_test)
