"""Request-scoped access to the database for the views."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import current_app
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from sqlalchemy.exc import IntegrityError

from certs.models import Certificate
from certs.service import IssuerSettings, issue_for_session, renewable_certificate
from item_bank import accounts, delivery, db as database
from item_bank.db import transaction
from item_bank.models import Exam


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
    """Called when a sitting ends (and again on the result page, in case that first try failed)."""
    with unit_of_work() as db:
        return issue_for_session(db, session_id, issuer())


def _check_renewal_window(db: Session, candidate_id: int, exam: Exam) -> None:
    """A recertification exam is only open to holders inside their renewal window."""
    if exam.kind == "recertification":
        renewable_certificate(db, candidate_id, exam)


def start_sitting(exam_id: str, *, candidate_id: int) -> delivery.SessionView:
    """Start the exam, or resume the sitting in progress; safe when two starts race. Returns the
    sitting as its learner sees it, read in the same transaction.

    The database allows one sitting in progress per candidate, so the loser of a race gets an
    IntegrityError and, on retry, finds what the winner created.
    """
    for attempt in range(3):
        try:
            with unit_of_work() as db:
                row = delivery.start_session(db, candidate_id=candidate_id, exam_id=exam_id,
                                             may_start=_check_renewal_window)
                return delivery.session_view(db, row)
        except IntegrityError:
            if attempt == 2:
                raise delivery.Conflict("the exam could not be started because of simultaneous requests; retry")
    raise AssertionError("unreachable")


def register_learner(*, name: str, email: str, password: str, organisation: str | None,
                     label: str) -> accounts.SignedIn:
    """A new account, signed in. Two registrations of one e-mail racing: the loser gets a 409."""
    try:
        with unit_of_work() as db:
            candidate = accounts.register(db, name=name, email=email, password=password, organisation=organisation)
            return accounts.start_session(db, candidate, label=label)
    except IntegrityError:
        raise accounts.AccountError(accounts.EMAIL_TAKEN, status=409) from None


def sign_in(*, email: str, password: str, label: str) -> accounts.SignedIn:
    with unit_of_work() as db:
        return accounts.start_session(db, accounts.authenticate(db, email=email, password=password), label=label)
