"""Issued certificates, policy changes that shorten them, and re-sit allowances after a withdrawal."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.bank import Exam
from storage.db import Base, utcnow
from storage.people import Candidate


class Certificate(Base):
    """One issued credential. Revocation and suspension are flags published through status lists."""

    __tablename__ = "certificates"
    # One current certificate per person and exam (organisations.status joins it for every person listed).
    __table_args__ = (
        Index("uq_certificates_current", "candidate_id", "exam_id", unique=True,
              sqlite_where=text("is_current"), postgresql_where=text("is_current")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # short public code
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), index=True)  # the certified (full) exam
    exam_version: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str] = mapped_column(ForeignKey("exam_sessions.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="initial")  # initial | renewal
    previous_id: Mapped[str | None] = mapped_column(ForeignKey("certificates.id"), nullable=True)
    organisation: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status_index: Mapped[int] = mapped_column(Integer, unique=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The person's latest certificate of this exam: a renewal, or a new certificate after a lapse, takes over
    # (certs.service.issue_for_session). Kept so that "each person's current certificate" is a plain join.
    is_current: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    cryptosuite: Mapped[str] = mapped_column(String(40))
    verification_method: Mapped[str] = mapped_column(String(300))
    credential: Mapped[dict[str, Any]] = mapped_column(JSON)

    candidate: Mapped[Candidate] = relationship()
    exam: Mapped[Exam] = relationship()


class PolicyChange(Base):
    """Everyone certified under an exam version below `min_exam_version` must recertify by `deadline`."""

    __tablename__ = "policy_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), index=True)
    min_exam_version: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ResitAllowance(Base):
    """Staff let the holder of a suspended or revoked certificate sit its exam again (certs.resits): who,
    when and why. It counts for the certificate's withdrawal at the time; a later one bars again."""

    __tablename__ = "resit_allowances"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    allowed_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    allowed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
