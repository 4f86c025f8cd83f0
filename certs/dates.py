"""The timestamps certs writes into keys.json, DID documents and credentials: UTC, whole seconds."""
from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_datetime(dt: datetime) -> str:
    """XML Schema dateTimeStamp in UTC with second precision: ``2026-01-15T10:00:00Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object) -> datetime | None:
    """A timestamp this package wrote (``format_datetime``); None when absent or unreadable, so a
    malformed date in a published document is treated as missing, never as a crash."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


__all__ = ["format_datetime", "parse_timestamp", "utcnow"]
