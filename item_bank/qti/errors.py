"""The error every QTI read or write raises, carrying all the problems found so a user fixes them in one pass."""
from __future__ import annotations

from errors import CertamenError, Kind


class QTIError(CertamenError, ValueError):
    """A QTI item or package can't be read or written; `problems` are 'file:line: message' strings."""

    kind = Kind.MALFORMED

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
