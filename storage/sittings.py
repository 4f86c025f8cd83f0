"""Sittings and their answers: what a learner was shown, answered and scored, and attempt grants."""
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

from storage.bank import Exam, Item
from storage.db import Base, utcnow
from storage.people import Candidate

SITTING_STATES = ("in_progress", "completed", "abandoned")


class Sitting(Base):
    """One sitting. State machine: in_progress -> completed | abandoned (never back)."""

    __tablename__ = "exam_sessions"
    # At most one sitting in progress per candidate, even when two starts race.
    __table_args__ = (
        Index("uq_exam_sessions_one_in_progress", "candidate_id", unique=True,
              sqlite_where=text("state = 'in_progress'"), postgresql_where=text("state = 'in_progress'")),
        # A person's latest finished sitting of an exam (organisations.status).
        Index("ix_exam_sessions_finished", "candidate_id", "exam_id", "finished_at"),
        # Sittings finished month by month (the console's trend): read from the index alone on PostgreSQL.
        Index("ix_exam_sessions_by_finish", "finished_at",
              postgresql_include=["state", "decision", "candidate_id"]),
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
    choice: Mapped[int] = mapped_column(Integer)  # the chosen option's index as written in the item
    # The written option index shown at each position (item_bank.delivery.presentation); NULL before shuffling.
    option_order: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    score: Mapped[int] = mapped_column(Integer)
    scored: Mapped[bool] = mapped_column(Boolean, default=True)  # False for seeded pretest items
    presented_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    session: Mapped[Sitting] = relationship(back_populates="responses")
    item: Mapped[Item] = relationship()


class SittingArea(Base):
    """A finished sitting's evidence in one content area, for the employer's risk map: how many scored questions,
    how many were answered right (`observed`), how many a borderline passer would get right on the same
    questions (`expected`, the IRT probabilities at the cut score summed) and the binomial variance of that
    count at the cut. Written with the sitting's exam.finish event; the learner sees only the verdict."""

    __tablename__ = "sitting_areas"
    __table_args__ = (Index("ix_sitting_areas_candidate", "candidate_id", "finished_at"),)

    sitting_id: Mapped[str] = mapped_column(ForeignKey("exam_sessions.id"), primary_key=True)
    area: Mapped[str] = mapped_column(String(40), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    exam_id: Mapped[str] = mapped_column(String(80))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    items: Mapped[int] = mapped_column(Integer)
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    variance: Mapped[float] = mapped_column(Float)
