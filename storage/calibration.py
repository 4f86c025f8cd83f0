"""Calibration runs: fitted parameters on the bank scale and the review report, until published."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, utcnow


class CalibrationRun(Base):
    __tablename__ = "calibration_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))
    model: Mapped[str] = mapped_column(String(10))
    exam_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    n_persons: Mapped[int] = mapped_column(Integer)
    n_responses: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | published
    base_parameter_set_id: Mapped[int | None] = mapped_column(ForeignKey("parameter_sets.id"), nullable=True)
    parameter_set_id: Mapped[int | None] = mapped_column(ForeignKey("parameter_sets.id"), nullable=True)
    linking: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # method and constants
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)  # item id -> {a, b, c, se_a, se_b} on the bank scale
    proposals: Mapped[list[str]] = mapped_column(JSON, default=list)  # pretest items ready for promotion
    notes: Mapped[str] = mapped_column(Text, default="")
    # The review report, rendered once from the fitted result (which is not kept as an object).
    report_html: Mapped[str] = mapped_column(Text, default="")
    report_pdf: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
