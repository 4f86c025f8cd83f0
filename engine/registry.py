"""Name -> implementation tables for the engine's strategies (one per role).

Every implementation of a role shares that role's call signature, so the
session looks a name up once (when its ``SessionPlan`` is built) and never
branches on strategy names per step. The names are the ones exam configs use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Read-only mapping of strategy names (in declaration order) to implementations.

    ``resolve(name)`` is the lookup to use on a configured name: an unknown
    name raises ValueError listing the valid ones.
    """

    def __init__(self, role: str, entries: dict[str, T]):
        self.role = role
        self._entries = dict(entries)

    def resolve(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"{self.role} must be one of {list(self._entries)}, got {name!r}") from None

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.role!r}, {list(self._entries)})"
