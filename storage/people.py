"""Learner accounts and the credentials that act for them or for staff: tokens, sign-in failures."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, utcnow


class Candidate(Base):
    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    organisation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # argon2id hash; None for accounts created before passwords (they sign in with a link first).
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A secret credential; only its SHA-256 is stored.

    Roles hr/psychometrician/admin are staff and integration tokens (item_bank.staff_tokens): they
    expire (90 days unless chosen otherwise), can be listed and revoked, and record when they were
    last used. A learner's signed-in session is a `learner` row that expires and is revoked at
    sign-out: a bearer token (`lrn_...`) for the JSON API, or a web session id (`ses_...`) that only
    the web pages accept from the session cookie. A one-time `signin_link` token lets a learner in
    without a password. Staff who work in the console hold a `staff_session` (the console's cookie) or a
    one-time `staff_link` (organisations.staff).
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # hr | psychometrician | admin | learner | signin_link | staff_session | staff_link
    role: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200), default="")
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id"), nullable=True, index=True)
    # Console sign-ins and sign-in links of a staff member (roles staff_session, staff_link).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True, index=True)
    # An integration token acts for this one organisation only (role hr); None: platform tokens.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Staff tokens only: updated at most once a minute (see item_bank.staff_tokens.LAST_USED_EVERY).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SigninFailure(Base):
    """Failed sign-ins counted per key (item_bank.signin_throttle): one row per (account, address)
    pair, per address and per account, keyed by a digest so that neither e-mail addresses nor client
    addresses are stored in clear. In the database so that every worker process sees the same counts."""

    __tablename__ = "signin_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "pair:<sha256>", "addr:…", "acct:…"
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
