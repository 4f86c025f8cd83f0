"""`certamen jobs run-once`: decide the notices due now, send what is waiting, and exit (for cron, and for tests
that move CERTAMEN_NOW)."""
from __future__ import annotations

import argparse
import os
import socket

from cli.common import add_json_option, emit, session_factory, settings


def cmd_jobs_run_once(args: argparse.Namespace) -> None:
    from notifications.mail import mailer_for
    from notifications.outbox import counts, deliver
    from notifications.planner import plan
    from storage.db import transaction

    config, factory = settings(), session_factory()
    decided = plan(factory, now=config.now(), public_url=config.public_url, issuer=config.issuer_name)
    done = deliver(factory, mailer_for(config), worker=f"{socket.gethostname()}:{os.getpid()}", now=config.now)
    with transaction(factory) as db:
        left = counts(db)
    report = {"decided": decided, "sent": done.sent, "retrying": done.retrying, "failed": done.failed,
              "uncertain": done.uncertain, "notices": left,
              "mail": "smtp" if config.smtp_url else f"outbox {config.outbox_dir}"}
    emit(args, report, lambda r: (
        f"notices decided now: {r['decided']}\n"
        f"mail: sent {r['sent']}, to retry later {r['retrying']}, given up {r['failed']}, "
        f"uncertain (a worker stopped mid-send; not resent) {r['uncertain']}\n"
        f"notices by state: {', '.join(f'{k} {v}' for k, v in sorted(r['notices'].items())) or 'none'}"
        + ("" if config.smtp_url else f"\nno SMTP server is configured: mail was written to {config.outbox_dir}")))


def register(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help="background work").add_subparsers(dest="jobs_command", required=True)
    once = jobs.add_parser("run-once", help="decide and send the notices due now (CERTAMEN_NOW sets 'now'), then exit")
    add_json_option(once)
    once.set_defaults(func=cmd_jobs_run_once)
