"""The persistent model: items and their versions, parameter versions, exams, candidates, sessions."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from item_bank.db import Base

ITEM_STATUSES = ("draft", "review", "pretest", "operational", "retired")
SESSION_STATES = ("in_progress", "completed", "abandoned")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Item(Base):
    """One version of an item. A new version is a new row, so old sessions keep what they showed."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("external_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    area: Mapped[str] = mapped_column(String(40), index=True)
    scenario: Mapped[str] = mapped_column(Text)
    question: Mapped[str] = mapped_column(Text)
    # [{"text": ..., "rationale": ...}, ...] -- rationales are never sent while an exam runs.
    options: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    key_index: Mapped[int] = mapped_column(Integer)
    intended_difficulty: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="operational", index=True)
    enemies: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    status_changed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ParameterSet(Base):
    """A published version of the bank's item parameters; sessions pin the one they started with."""

    __tablename__ = "parameter_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    provisional: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(200))  # e.g. "simulated pilot", "calibration run 7"
    calibration_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("parameter_sets.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    parameters: Mapped[list[ItemParameter]] = relationship(back_populates="parameter_set")


class ItemParameter(Base):
    __tablename__ = "item_parameters"
    __table_args__ = (UniqueConstraint("parameter_set_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parameter_set_id: Mapped[int] = mapped_column(ForeignKey("parameter_sets.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    model: Mapped[str] = mapped_column(String(10), default="3PL")
    a: Mapped[float] = mapped_column(Float)
    b: Mapped[float] = mapped_column(Float)
    c: Mapped[float] = mapped_column(Float, default=0.0)
    d: Mapped[float] = mapped_column(Float, default=1.0)
    se_a: Mapped[float | None] = mapped_column(Float, nullable=True)
    se_b: Mapped[float | None] = mapped_column(Float, nullable=True)
    se_c: Mapped[float | None] = mapped_column(Float, nullable=True)

    parameter_set: Mapped[ParameterSet] = relationship(back_populates="parameters")
    item: Mapped[Item] = relationship()


class Exam(Base):
    """An exam definition; the adaptive rules live in `cat_config` as data, not in code."""

    __tablename__ = "exams"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="full")  # full | recertification
    areas: Mapped[list[str]] = mapped_column(JSON)  # content areas the pool is drawn from
    blueprint: Mapped[dict[str, Any]] = mapped_column(JSON)  # area -> {"min": n, "max": m}
    cut_score: Mapped[float] = mapped_column(Float)
    cat_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    validity_months: Mapped[int] = mapped_column(Integer, default=12)
    recert_window_days: Mapped[int] = mapped_column(Integer, default=60)
    grace_days: Mapped[int] = mapped_column(Integer, default=30)
    recert_exam_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    cryptosuite: Mapped[str] = mapped_column(String(40), default="eddsa-rdfc-2022")
    # What the certificate states (ISO/IEC 17024): scheme name and version, scope, criteria, code.
    certificate_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Retake waiting period, attempt limit, time limit (item_bank.integrity.IntegrityRules).
    integrity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExposureControl(Base):
    """Sympson-Hetter parameters derived by simulation for one exam version on one parameter set."""

    __tablename__ = "exposure_controls"

    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), primary_key=True)
    exam_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    parameter_set_id: Mapped[int] = mapped_column(ForeignKey("parameter_sets.id"), primary_key=True)
    target: Mapped[float] = mapped_column(Float)
    k: Mapped[list[float]] = mapped_column(JSON)  # in pool order (item id ascending)
    simulated_max_exposure: Mapped[float] = mapped_column(Float)
    derived_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Candidate(Base):
    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    organisation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # argon2id hash; None for accounts created before passwords (they sign in with a link first).
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExamSession(Base):
    """One sitting. State machine: in_progress -> completed | abandoned (never back)."""

    __tablename__ = "exam_sessions"
    # At most one sitting in progress per candidate, even when two starts race.
    __table_args__ = (
        Index("uq_exam_sessions_one_in_progress", "candidate_id", unique=True,
              sqlite_where=text("state = 'in_progress'"), postgresql_where=text("state = 'in_progress'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # unguessable public token
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), index=True)
    exam_version: Mapped[int] = mapped_column(Integer)
    parameter_set_id: Mapped[int] = mapped_column(ForeignKey("parameter_sets.id"))
    state: Mapped[str] = mapped_column(String(20), default="in_progress", index=True)
    seed: Mapped[int] = mapped_column(Integer)
    # Snapshot of the exam's adaptive rules at start, so a resumed session replays exactly.
    cat_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    pending_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), nullable=True)
    pending_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    presented_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # From the exam's time limit at start; answers after it are refused and the sitting is closed.
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    theta: Mapped[float | None] = mapped_column(Float, nullable=True)
    se: Mapped[float | None] = mapped_column(Float, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(10), nullable=True)  # pass | fail
    stop_reason: Mapped[str | None] = mapped_column(String(80), nullable=True)
    area_feedback: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    candidate: Mapped[Candidate] = relationship()
    exam: Mapped[Exam] = relationship()
    responses: Mapped[list[Response]] = relationship(
        back_populates="session", order_by="Response.seq", cascade="all, delete-orphan"
    )


class AttemptGrant(Base):
    """An administrator's decision to let a candidate past an exam's attempt limit."""

    __tablename__ = "attempt_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"))
    granted_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Response(Base):
    __tablename__ = "responses"
    # The unique (session, seq) pair is what makes a retried or doubled answer count once.
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("exam_sessions.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    choice: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    scored: Mapped[bool] = mapped_column(Boolean, default=True)  # False for seeded pretest items
    presented_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    session: Mapped[ExamSession] = relationship(back_populates="responses")
    item: Mapped[Item] = relationship()


class AuditEvent(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous hash.

    Events form several chains (item_bank.audit): one per sitting ("session:<id>") and one
    "global" chain for everything else, so answers of different learners never wait on each other.
    """

    __tablename__ = "audit_events"
    # The unique pair (also the index for the head lookup) stops two concurrent appends forking a chain.
    __table_args__ = (UniqueConstraint("chain", "chain_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(120))
    chain_seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the chain
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ApiToken(Base):
    """A secret credential; only its SHA-256 is stored.

    Roles hr/psychometrician/admin are staff and integration tokens (item_bank.staff_tokens): they
    expire (90 days unless chosen otherwise), can be listed and revoked, and record when they were
    last used. A learner's signed-in session is a `learner` row that expires and is revoked at
    sign-out: a bearer token (`lrn_...`) for the JSON API, or a web session id (`ses_...`) that only
    the web pages accept from the session cookie. A one-time `signin_link` token lets a learner in
    without a password.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # hr | psychometrician | admin | learner | signin_link
    label: Mapped[str] = mapped_column(String(200), default="")
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id"), nullable=True, index=True)
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
