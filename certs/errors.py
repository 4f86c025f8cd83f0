"""The errors of certificate operations (kept apart so that every certs module can raise them)."""
from __future__ import annotations

from typing import Any

from errors import CertamenError, Kind


class CertificateError(CertamenError, ValueError):
    """A certificate operation that cannot be done in the state things are in."""

    kind = Kind.CONFLICT


class IssuanceRefused(CertificateError):
    """No certificate for a passed sitting: its record does not support the pass, or a withdrawn certificate
    bars it. Raised before anything is written; certs.service.record_refusal audits it in a transaction of
    its own (the caller's rolls back with the error). `reason` is a short code, `details` go to the audit."""

    def __init__(self, message: str, *, session_id: str, reason: str, details: dict[str, Any]):
        super().__init__(message)
        self.session_id = session_id
        self.reason = reason
        self.details = details
