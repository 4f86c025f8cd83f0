"""The item bank's rows: item versions, parameter sets and their values, exams, exposure parameters."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base, utcnow

ITEM_STATUSES = ("draft", "review", "pretest", "operational", "retired")


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
    # Options shown in a per-sitting order; False where their written order carries meaning.
    shuffle: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # What the key teaches (item_bank.content.TEACHES_VALUES); a label, kept up to date like `enemies`.
    teaches: Mapped[str | None] = mapped_column(String(20), nullable=True)
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
