"""What delivery refuses, by kind: api/ and cli/ turn the kind into a status."""
from __future__ import annotations

from errors import CertamenError, Kind


class DeliveryError(CertamenError):
    """A request the exam cannot honour."""

    kind = Kind.MALFORMED


class NotFound(DeliveryError):
    kind = Kind.NOT_FOUND


class Conflict(DeliveryError):
    kind = Kind.CONFLICT


class Invalid(DeliveryError):
    kind = Kind.INVALID


class NotSignedIn(DeliveryError):
    """The learner session token that came with an answer is not live (signed out, expired, unknown)."""

    kind = Kind.UNAUTHENTICATED
