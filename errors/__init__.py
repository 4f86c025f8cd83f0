"""The root of every error Certamen reports to a person: a message fit to show and a kind.

Domain code says *what* went wrong (`Kind`); how that is told (an HTTP status, a CLI exit code) is decided
only in `api/` and `cli/`. Imports nothing of the project, so every package may raise these.
"""
from __future__ import annotations

import enum

__all__ = ["CertamenError", "Kind"]


class Kind(enum.Enum):
    """What the caller can do about an error."""

    MALFORMED = "malformed"              # the request or file cannot be read as what it claims to be
    INVALID = "invalid"                  # readable, but its content breaks a rule
    UNAUTHENTICATED = "unauthenticated"  # no live credential came with it
    FORBIDDEN = "forbidden"              # the caller may not do this
    NOT_FOUND = "not_found"              # no such thing (or not the caller's to see)
    CONFLICT = "conflict"                # the current state does not allow it; may succeed later
    THROTTLED = "throttled"              # too many attempts; `retry_after` seconds
    UNAVAILABLE = "unavailable"          # something the service needs (keys, database, backend) is not ready


class CertamenError(Exception):
    """Base of the project's errors. Subclasses set a default `kind`; a raise site may give another."""

    kind: Kind = Kind.INVALID
    retry_after: int | None = None

    def __init__(self, message: str, *, kind: Kind | None = None):
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.message
