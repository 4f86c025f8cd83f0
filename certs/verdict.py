"""What a verification answers: a :class:`Status` word, the :class:`Check` list behind it and the
:class:`Verdict` holding both (apart from :mod:`certs.verify` so every check module can build them).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .credential import credential_summary
from .dates import format_datetime


class Status(str, enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    SIGNATURE_INVALID = "signature_invalid"
    UNKNOWN_ISSUER = "unknown_issuer"
    COMPROMISED_KEY = "compromised_key"
    NOT_A_CREDENTIAL = "not_a_credential"
    UNSUPPORTED_CRYPTOSUITE = "unsupported_cryptosuite"
    STATUS_UNAVAILABLE = "status_unavailable"

    def __str__(self) -> str:
        return self.value


class Check:
    """One checked fact. ``ok``: True passed, False failed, None informational.
    (The human-readable ``text`` is formatted when first read.)"""

    __slots__ = ("code", "ok", "_text", "_fmt", "_args")

    def __init__(self, code: str, ok: bool | None, text: str | None = None,
                 fmt: str | None = None, args: tuple[object, ...] = ()):
        self.code = code
        self.ok = ok
        self._text = text
        self._fmt = fmt
        self._args = args

    @property
    def text(self) -> str:
        if self._text is None:
            assert self._fmt is not None, "a Check is made with its text or the format for it"
            self._text = self._fmt.format(*[format_day(a) if isinstance(a, datetime) else a
                                             for a in self._args])
        return self._text

    def __repr__(self) -> str:
        return f"Check({self.code!r}, {self.ok!r}, {self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Check) and (self.code, self.ok, self.text) == (
            other.code, other.ok, other.text)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Verdict:
    status: Status
    reason: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    issuer: str | None = None
    verification_method: str | None = None
    cryptosuite: str | None = None
    key_status: str | None = None        # active / retired / compromised (trusted keys only)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    expired_at: datetime | None = None
    revoked_at: datetime | None = None   # when known (or the list date, see notes)
    _source: Any = field(default=None, repr=False, compare=False)
    _summary: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def summary(self) -> dict[str, Any] | None:
        """Learner / exam facts for display — only when the issuer and signature checked out
        (computed on first access)."""
        if self._summary is None and self._source is not None:
            self._summary = credential_summary(self._source)
        return self._summary

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID

    @property
    def facts(self) -> list[str]:
        """Human-readable checked facts, in order."""
        return [c.text for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        def dt(v: datetime | None) -> str | None:
            return format_datetime(v) if v else None

        return {
            "status": self.status.value,
            "valid": self.valid,
            "reason": self.reason,
            "checks": [{"code": c.code, "ok": c.ok, "text": c.text} for c in self.checks],
            "notes": list(self.notes),
            "summary": self.summary,
            "issuer": self.issuer,
            "verificationMethod": self.verification_method,
            "cryptosuite": self.cryptosuite,
            "keyStatus": self.key_status,
            "validFrom": dt(self.valid_from),
            "validUntil": dt(self.valid_until),
            "expiredAt": dt(self.expired_at),
            "revokedAt": dt(self.revoked_at),
        }


class _Stop(Exception):
    """Control-flow signal, never told to anyone as an error: ends a verification with this status
    and reason (the checks raise it, verify() turns it into the verdict)."""

    def __init__(self, status: Status, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def format_day(dt: datetime) -> str:
    """The UTC date of a moment, as verdict texts show it."""
    if dt.utcoffset():
        dt = dt.astimezone(UTC)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
