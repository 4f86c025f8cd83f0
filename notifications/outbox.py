"""Notices: mail Certamen has decided to send, recorded once under an idempotency key, then handed to the mail
server by workers that may run side by side (several processes, several machines).

Exactly once, as far as a mail server allows it:

* deciding -- `queue` inserts the notice under its key (person, kind, due date or certificate, offset);
  deciding again (a re-run, a second worker) finds the key taken and adds nothing;
* sending -- `deliver` claims a batch (a conditional UPDATE of rows still pending, so two workers never both
  win a row: PostgreSQL skips rows another worker has locked, SQLite has one writer at a time) under a lease,
  then for each message commits ``sending``, hands it to the server and commits ``sent``;
* a worker that dies leaves its rows with a lease running out. The ones still ``claimed`` were never handed
  over and go back to ``pending``. The one ``sending`` may have been taken by the server (the worker died
  between its "accepted" and the commit) or not: nobody can tell, so it becomes ``uncertain`` and is never
  sent again -- counted, and listed for a person to decide. At most one message per dead worker.

A message refused or a server unreachable goes back to ``pending`` with an exponential wait, until
`MAX_ATTEMPTS`, then ``failed``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from notifications.mail import Mail, Mailer, MailError
from storage import Notice
from storage.db import transaction

BATCH = 50
LEASE = dt.timedelta(minutes=10)  # far beyond one SMTP handover (its commands time out after 30 s)
MAX_ATTEMPTS = 8
FIRST_WAIT = dt.timedelta(minutes=1)
LONGEST_WAIT = dt.timedelta(hours=6)


def queue(db: Session, mail: Mail, *, kind: str, now: dt.datetime, organisation_id: int | None = None) -> bool:
    """Records `mail` to be sent under its key; False if that notice was decided before (nothing added)."""
    if not mail.key:
        raise ValueError("a notice needs its idempotency key")
    values = {"key": mail.key, "kind": kind, "organisation_id": organisation_id, "to_address": mail.to,
              "subject": mail.subject, "body_text": mail.text, "body_html": mail.html, "state": "pending",
              "attempts": 0, "next_attempt_at": now, "created_at": now}
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = db.execute(insert(Notice).values(**values).on_conflict_do_nothing(index_elements=["key"])
                       .returning(Notice.id)).first()
    return added is not None


@dataclass
class Delivery:
    sent: int = 0
    retrying: int = 0  # refused or unreachable this time; tried again later
    failed: int = 0  # gave up after MAX_ATTEMPTS
    uncertain: int = 0  # claims of workers that died mid-send, found this run


def wait_after(attempts: int) -> dt.timedelta:
    return min(FIRST_WAIT * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def deliver(factory: sessionmaker[Session], mailer: Mailer, *, worker: str, now: Callable[[], dt.datetime],
            batch: int = BATCH) -> Delivery:
    """Sends what is due, a claimed batch at a time, until nothing is left."""
    done = Delivery()
    with transaction(factory) as db:
        expired = Notice.lease_until < now()
        db.execute(update(Notice).where(Notice.state == "claimed", expired)
                   .values(state="pending", claimed_by=None, lease_until=None))
        done.uncertain = db.execute(
            update(Notice).where(Notice.state == "sending", expired)
            .values(state="uncertain", last_error="the worker sending it stopped; it may or may not have gone")
        ).rowcount
    while claimed := _claim(factory, worker, now(), batch):
        for notice in claimed:
            _send_one(factory, mailer, worker, notice, now, done)
    return done


def _claim(factory: sessionmaker[Session], worker: str, at: dt.datetime, size: int) -> list[Notice]:
    with transaction(factory) as db:
        due = (select(Notice.id).where(Notice.state == "pending", Notice.next_attempt_at <= at)
               .order_by(Notice.next_attempt_at, Notice.id).limit(size).with_for_update(skip_locked=True))
        ids = list(db.execute(due).scalars())
        if not ids:
            return []
        won = list(db.execute(update(Notice).where(Notice.id.in_(ids), Notice.state == "pending")
                              .values(state="claimed", claimed_by=worker, lease_until=at + LEASE)
                              .returning(Notice.id)).scalars())
        rows = list(db.execute(select(Notice).where(Notice.id.in_(won)).order_by(Notice.id)).scalars())
        db.expunge_all()
        return rows


def _send_one(factory: sessionmaker[Session], mailer: Mailer, worker: str, notice: Notice,
              now: Callable[[], dt.datetime], done: Delivery) -> None:
    mail = Mail(to=notice.to_address, subject=notice.subject, text=notice.body_text, html=notice.body_html,
                key=notice.key)
    mine = (Notice.id == notice.id, Notice.state == "sending", Notice.claimed_by == worker)
    with transaction(factory) as db:
        handing_over = db.execute(update(Notice).where(Notice.id == notice.id, Notice.state == "claimed",
                                                       Notice.claimed_by == worker).values(state="sending")).rowcount
    if not handing_over:  # the lease ran out and another worker took it back
        return
    try:
        mailer.send(mail)
    except MailError as exc:
        attempts = notice.attempts + 1
        given_up = attempts >= MAX_ATTEMPTS
        with transaction(factory) as db:
            db.execute(update(Notice).where(*mine).values(
                state="failed" if given_up else "pending", attempts=attempts, claimed_by=None, lease_until=None,
                next_attempt_at=now() + wait_after(attempts), last_error=str(exc)[:500]))
        if given_up:
            done.failed += 1
        else:
            done.retrying += 1
        return
    with transaction(factory) as db:
        db.execute(update(Notice).where(*mine).values(state="sent", sent_at=now(), attempts=notice.attempts + 1,
                                                      claimed_by=None, lease_until=None, last_error=None))
    done.sent += 1


def counts(db: Session) -> dict[str, int]:
    """Notices by state."""
    return {state: n for state, n in db.execute(select(Notice.state, func.count()).group_by(Notice.state))}
