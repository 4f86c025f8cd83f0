"""Notices go out once: decided once under their key, claimed by one worker, never resent when a worker died
mid-send; against a real SMTP server on loopback, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

from smtp_server import smtp_server
from sqlalchemy import select, update

from notifications.mail import Mail, SmtpMailer
from notifications.outbox import LEASE, MAX_ATTEMPTS, counts, deliver, queue
from storage import Notice
from storage.db import transaction

NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)
SENDER = "Certamen <no-reply@certs.example.com>"


def notice(n: int) -> Mail:
    return Mail(to=f"person{n}@example.com", subject=f"Reminder {n}", text=f"Your exam is due ({n}).\n",
                key=f"assignment.reminder:{n}:social-media-frontline:2026-12-10:7")


def queue_all(factory, n: int) -> None:
    with transaction(factory) as db:
        for k in range(n):
            queue(db, notice(k), kind="assignment.reminder", now=NOW)


def test_deciding_a_notice_twice_records_it_once(factory):
    with transaction(factory) as db:
        assert queue(db, notice(1), kind="assignment.reminder", now=NOW) is True
        assert queue(db, notice(1), kind="assignment.reminder", now=NOW) is False
        assert db.execute(select(Notice)).scalars().all()[0].state == "pending"
        assert counts(db) == {"pending": 1}


def test_due_notices_reach_the_server_once_and_a_rerun_sends_nothing(factory):
    queue_all(factory, 3)
    with smtp_server() as (address, received):
        mailer = SmtpMailer(f"smtp://{address}", SENDER)
        first = deliver(factory, mailer, worker="w1", now=lambda: NOW)
        again = deliver(factory, mailer, worker="w1", now=lambda: NOW)
    assert (first.sent, again.sent) == (3, 0)
    assert sorted(m["To"] for m in received.messages) == [f"person{k}@example.com" for k in range(3)]
    with transaction(factory) as db:
        assert counts(db) == {"sent": 3}


def test_two_workers_racing_send_each_notice_exactly_once(factory):
    queue_all(factory, 120)
    with smtp_server() as (address, received):
        results = {}

        def work(name: str) -> None:
            results[name] = deliver(factory, SmtpMailer(f"smtp://{address}", SENDER), worker=name,
                                    now=lambda: NOW, batch=7)

        workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(2)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=120)
    ids = Counter(m["Message-ID"] for m in received.messages)
    assert len(ids) == 120 and set(ids.values()) == {1}
    assert results["w0"].sent + results["w1"].sent == 120
    with transaction(factory) as db:
        assert counts(db) == {"sent": 120}


def test_a_server_that_cannot_be_reached_is_retried_later_then_given_up(factory):
    queue_all(factory, 1)
    with smtp_server() as (address, _):
        pass  # nothing listens there any more
    mailer, at = SmtpMailer(f"smtp://{address}", SENDER), NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        done = deliver(factory, mailer, worker="w", now=lambda at=at: at)
        assert (done.retrying, done.failed) == ((1, 0) if attempt < MAX_ATTEMPTS else (0, 1))
        assert deliver(factory, mailer, worker="w", now=lambda at=at: at).retrying == 0  # not due again yet
        with transaction(factory) as db:
            row = db.execute(select(Notice)).scalar_one()
            assert row.attempts == attempt and "ConnectionRefusedError" in row.last_error
            at = row.next_attempt_at
    assert row.state == "failed"


def test_a_claim_whose_worker_died_is_uncertain_and_never_resent(factory):
    queue_all(factory, 2)
    with transaction(factory) as db:  # a worker was handing both over and died before recording it
        db.execute(update(Notice).values(state="sending", claimed_by="dead", lease_until=NOW + LEASE))
    with smtp_server() as (address, received):
        mailer = SmtpMailer(f"smtp://{address}", SENDER)
        assert deliver(factory, mailer, worker="w", now=lambda: NOW).uncertain == 0  # its lease still runs
        later = deliver(factory, mailer, worker="w", now=lambda: NOW + LEASE + dt.timedelta(seconds=1))
    assert (later.uncertain, later.sent, received.messages) == (2, 0, [])
    with transaction(factory) as db:
        assert counts(db) == {"uncertain": 2}


def test_a_worker_killed_mid_batch_leaves_no_duplicate_when_the_next_run_finishes(factory, database_url, tmp_path):
    """kill -9 of `certamen jobs run-once` while the server holds its reply to the 5th message (which it has
    taken): the next run sends the rest, the 5th is uncertain and not sent again, no Message-ID arrives twice."""
    import os
    import signal
    import subprocess
    import sys

    queue_all(factory, 30)
    with smtp_server(stall_at=5, stall_for=30) as (address, received):
        env = {**os.environ, "DATABASE_URL": database_url, "CERTAMEN_SMTP_URL": f"smtp://{address}",
               "CERTAMEN_NOW": NOW.isoformat(), "CERTAMEN_INSTANCE": str(tmp_path), "CERTAMEN_MAIL_FROM": SENDER}
        worker = subprocess.Popen([sys.executable, "-m", "cli.main", "jobs", "run-once"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert received.stalled.wait(timeout=120), worker.stderr.read() if worker.poll() is not None else ""
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        later = (NOW + LEASE + dt.timedelta(minutes=1)).isoformat()
        rerun = subprocess.run([sys.executable, "-m", "cli.main", "jobs", "run-once", "--json"],
                               env={**env, "CERTAMEN_NOW": later}, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
    ids = Counter(m["Message-ID"] for m in received.messages)
    assert len(ids) == 30 and set(ids.values()) == {1}  # the 5th was taken once, by the killed worker
    with transaction(factory) as db:
        assert counts(db) == {"sent": 29, "uncertain": 1}
        assert db.execute(select(Notice.to_address).where(Notice.state == "uncertain")).scalar_one() == \
            received.messages[4]["To"]
