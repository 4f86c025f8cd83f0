"""Exceptions raised by the calibration package.

Both are ordinary exception subclasses so callers (API, CLI) can map them to
user-facing messages without importing anything else from here.
"""

from __future__ import annotations

from errors import CertamenError, Kind


class CalibrationInputError(CertamenError, ValueError):
    """Response data or arguments that cannot be calibrated.

    Messages name the exact location (file line and column, matrix row and
    column, or long-format entry) so a user can fix the source file.
    """


class BackendError(CertamenError, RuntimeError):
    """An external estimation backend (girth) is unavailable or failed.

    Raised *from None*: the backend's own traceback is an implementation detail
    of a third-party package and is summarised in the message instead.
    """

    kind = Kind.UNAVAILABLE


class CalibrationWarning(UserWarning):
    """Non-fatal problems found during calibration (also kept on the result)."""
