"""The audit trail's rows (appended and verified by item_bank.audit)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, utcnow


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
