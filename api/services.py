"""Request-scoped access to the database for the views."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certs.resits import check_may_sit
from certs.service import (
    IssuanceRefused,
    IssuerSettings,
    issue_for_session,
    record_refusal,
    renewable_certificate,
    status_of,
)
from errors import CertamenError, Kind
from item_bank import accounts, audit, delivery, signin_throttle
from notifications import notices
from notifications.mail import mailer_for
from organisations import staff
from storage import Candidate, Certificate, Employee, Exam, utcnow
from storage import db as database
from storage.db import transaction


def session_factory() -> sessionmaker[Session]:
    return current_app.extensions["db_factory"]


@contextmanager
def unit_of_work() -> Iterator[Session]:
    with transaction(session_factory()) as db:
        yield db


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """For a single-statement read (the learner token lookup of every request): two round trips fewer
    than a unit of work."""
    with database.autocommit_connection(current_app.extensions["db_engine"]) as conn:
        yield conn


def issuer() -> IssuerSettings:
    return current_app.extensions["issuer"]


def issue_if_earned(session_id: str) -> Certificate | None:
    """Called when a sitting ends (and again on the result page, in case that first try failed).
    A refusal (IssuanceRefused) is audited in a transaction of its own, then raised: it is the answer."""
    try:
        with unit_of_work() as db:
            return issue_for_session(db, session_id, issuer())
    except IssuanceRefused as refused:
        with unit_of_work() as db:
            record_refusal(db, refused)
        raise


def issue_after_last_answer(session_id: str) -> None:
    """Issue the certificate an answer has just earned. A refusal does not change that answer's response:
    the answer is recorded, the refusal is audited, and the result page says why there is no certificate."""
    try:
        issue_if_earned(session_id)
    except IssuanceRefused:
        pass


def _check_may_start(db: Session, candidate_id: int, exam: Exam) -> None:
    """A holder whose certificate of the exam is suspended or revoked does not sit it again until staff
    allow it; a recertification exam is only open to holders inside their renewal window."""
    check_may_sit(db, candidate_id, exam)
    if exam.kind == "recertification":
        renewable_certificate(db, candidate_id, exam)


def start_sitting(exam_id: str, *, candidate_id: int) -> delivery.SittingView:
    """Start the exam, or resume the sitting in progress; safe when two starts race. Returns the
    sitting as its learner sees it, read in the same transaction.

    The database allows one sitting in progress per candidate, so the loser of a race gets an
    IntegrityError and, on retry, finds what the winner created.
    """
    for attempt in range(3):
        try:
            with unit_of_work() as db:
                row = delivery.start_sitting(db, candidate_id=candidate_id, exam_id=exam_id,
                                             may_start=_check_may_start)
                return delivery.sitting_view(db, row)
        except IntegrityError as exc:
            if attempt == 2:
                raise delivery.Conflict(
                    "the exam could not be started because of simultaneous requests; retry") from exc
    raise AssertionError("unreachable")


def register_learner(*, name: str, email: str, password: str, organisation: str | None = None) -> None:
    """Registers a new account, or does nothing visible if the address has one: the same outcome
    either way (accounts.register says why and what happens instead). Nobody is signed in: the
    learner signs in next. Two registrations of one new address racing: one account, both told the
    same."""
    try:
        with unit_of_work() as db:
            accounts.register(db, name=name, email=email, password=password, organisation=organisation)
    except IntegrityError:
        pass  # the other registration created it: as for any address that has an account


def _throttled_password_check(db: Session, *, email: str, password: str, address: str,
                              authenticate: Callable[..., Any] = accounts.authenticate, throttle_key: str = ""):
    """`authenticate` (a learner's by default) behind item_bank.signin_throttle: (account or None, the refusal).
    `throttle_key` keeps staff and learner failures apart when one address has both accounts."""
    enabled = current_app.config.get("RATELIMIT_ENABLED", True)
    attempt = signin_throttle.check(db, email=throttle_key + email, address=address) if enabled else None
    try:
        account = authenticate(db, email=email, password=password)
    except CertamenError as refused:
        if attempt is not None:
            attempt.failed(db)
        return None, refused
    if attempt is not None:
        attempt.succeeded(db)
    return account, None


def staff_sign_in(*, email: str, password: str, address: str) -> str:
    """A console session id for the staff member whose password this is (throttled like learners)."""
    with unit_of_work() as db:
        account, refused = _throttled_password_check(db, email=email, password=password, address=address,
                                                     authenticate=staff.authenticate, throttle_key="staff:")
        if account is not None:
            return staff.start_session(db, account)
    raise refused


def sign_in(*, email: str, password: str, label: str, address: str, web: bool = False) -> accounts.SignedIn:
    """A new session for the password's owner: a bearer token, or with `web` a web session id.
    Failures are counted (and waited out) per account and address: item_bank.signin_throttle."""
    with unit_of_work() as db:  # commits the failure count too, then raises the refusal
        candidate, refused = _throttled_password_check(db, email=email, password=password, address=address)
        if candidate is not None:
            return accounts.start_session(db, candidate, label=label, web=web)
    raise refused


def change_password(candidate_id: int, *, current: str | None, new: str, address: str) -> accounts.SignedIn:
    """Sets a new password (checking the current one unless `current` is None, i.e. right after a
    sign-in link) and returns a fresh web session: every other session of the account has ended."""
    refused = None
    with unit_of_work() as db:
        candidate = db.get(Candidate, candidate_id)
        if current is not None:
            _, refused = _throttled_password_check(db, email=candidate.email, password=current,
                                                       address=address)
        if refused is None:
            accounts.set_password(db, candidate, new)
            return accounts.start_session(db, candidate, label="web", web=True)
    raise refused


class NotSendable(CertamenError):
    kind = Kind.CONFLICT


def resend_certificate(db: Session, cert: Certificate, *, actor: str, sender: str) -> str:
    """Mails a valid certificate's links to its holder again, at the address their organisation enrolled
    (`db` is scoped to it); audited as `actor`. The address it went to."""
    decision = status_of(db, cert)
    if decision.status not in ("active", "expiring_soon"):
        raise NotSendable(f"a {decision.status} certificate is not sent: only valid ones are")
    holder = db.execute(select(Employee).where(Employee.candidate_id == cert.candidate_id)
                        .order_by(Employee.active.desc())).scalars().first()
    to = holder.email if holder is not None else cert.candidate.email
    urls, settings = issuer(), current_app.extensions["settings"]
    mail = notices.certificate_resent(
        to=to, name=holder.name if holder is not None else cert.candidate.name, exam=cert.exam.title,
        certificate_id=cert.id, valid_until=decision.effective_expiry.date().isoformat(),
        verify_url=urls.verify_url(cert.id), pdf_url=f"{urls.certificate_url(cert.id)}.pdf", sender=sender,
        issuer=urls.name, key=f"certificate.resend:{cert.id}:{utcnow().isoformat()}")
    mailer_for(settings).send(mail)  # a MailError rolls the audit record back: nothing is said to be sent
    audit.record(db, actor=actor, kind="certificate.resend", subject=f"certificate:{cert.id}", data={"to": to})
    return to
