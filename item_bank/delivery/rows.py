"""The rows delivery works on: a sitting as plain values, and its stored answers."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from item_bank import audit
from storage import Sitting, as_utc


class StoredAnswer(NamedTuple):
    """A stored response as delivery reads it: plain values, not an ORM object (it is never changed)."""

    seq: int
    item_id: int
    choice: int
    score: int
    scored: bool


@dataclass(slots=True)
class SittingRow:
    """An exam_sessions row as delivery works on it. The answer path reads it with one Core SELECT and
    writes what an answer changed with one Core UPDATE: the ORM's load and unit-of-work flush of the row
    cost more Python time than the rest of writing an answer. Pages hold an Sitting; `of` and
    `copy_outcome_to` cross between the two."""

    id: str
    candidate_id: int
    exam_id: str
    parameter_set_id: int
    seed: int
    cat_config: dict[str, Any]
    deadline: dt.datetime | None
    state: str
    pending_item_id: int | None
    pending_seq: int | None
    presented_at: dt.datetime | None
    theta: float | None
    se: float | None
    decision: str | None
    stop_reason: str | None
    area_feedback: list[dict[str, Any]] | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: Sitting) -> SittingRow:
        return cls(*(getattr(row, name) for name in COLUMNS))

    def copy_outcome_to(self, row: Sitting) -> None:
        """Gives the ORM row this sitting's ending, for its unit of work to write."""
        for name in FINISHED:
            setattr(row, name, getattr(self, name))


COLUMNS = tuple(f.name for f in fields(SittingRow))
# What an answer changes in the row: the next item and the estimate; finishing also sets the outcome.
ADVANCED = ("pending_item_id", "pending_seq", "presented_at", "theta", "se")
FINISHED = ADVANCED + ("state", "finished_at", "decision", "stop_reason", "area_feedback")


class ReadSitting(NamedTuple):
    row: SittingRow
    head: audit.ChainHead  # the head of the sitting's audit chain, read with the row
    token_owner: int | None  # the candidate the learner token sent belongs to, if it is live


# Which answers a sitting row has taken: only committing an answer moves the pending item, and it
# stamps `presented_at` anew each time (to the microsecond), so equal versions mean equal responses.
Version = tuple[Any, Any]


def version(row: SittingRow) -> Version:
    return row.pending_seq, None if row.presented_at is None else as_utc(row.presented_at)
