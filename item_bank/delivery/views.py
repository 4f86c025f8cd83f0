"""What a learner sees of a sitting: never keys, rationales, parameters or the estimate."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.delivery.errors import Conflict, NotFound
from item_bank.delivery.presentation import option_order
from item_bank.delivery.rows import SittingRow
from item_bank.delivery.statements import RESULT, check_session_id, get_sitting
from item_bank.delivery.timing import close_if_overdue, seconds_left
from item_bank.runtime import item_content
from storage import Response, Sitting

# What a learner's result says of each area: the verdict and how many questions it rests on; the evidence
# numbers stored beside it (right answers among them) are for the employer's aggregate risk map only.
LEARNER_AREA_KEYS = ("area", "items", "meets_standard")


@dataclass
class PresentedItem:
    """What a learner may see of an item: never the key, rationales or parameters."""

    session_id: str
    seq: int
    item_ref: str
    scenario: str
    question: str
    options: list[str]
    answered: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "item_id": self.item_ref,
            "scenario": self.scenario,
            "question": self.question,
            "options": [{"index": n, "text": t} for n, t in enumerate(self.options)],
        }


@dataclass
class SittingView:
    """What a learner's client is told about a sitting: never keys, parameters or the estimate."""

    session_id: str
    exam_id: str
    state: str
    answered: int
    item: PresentedItem | None
    deadline: Any
    seconds_left: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "exam_id": self.exam_id,
            "state": self.state,
            "answered": self.answered,
            "item": self.item.as_dict() if self.item else None,
            "deadline": self.deadline.isoformat() if self.deadline and self.state == "in_progress" else None,
            "seconds_left": self.seconds_left,
        }


@dataclass
class AnswerOutcome:
    duplicate: bool
    finished: bool
    answered: int
    view: SittingView  # the sitting after this answer, read in the same transaction
    timed_out: bool = False  # the time limit had passed: the answer was not recorded, the sitting closed
    decision: str | None = None  # pass | fail once the sitting has ended


@dataclass
class SittingResult:
    session_id: str
    exam_id: str
    exam_title: str
    candidate_name: str
    decision: str
    items_answered: int
    finished_at: Any
    areas: list[dict[str, Any]]
    provisional: bool = False  # scored with provisional (not field-calibrated) parameters
    timed_out: bool = False  # ended by the exam's time limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "exam_id": self.exam_id,
            "exam_title": self.exam_title,
            "decision": self.decision,
            "passed": self.decision == "pass",
            "items_answered": self.items_answered,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "areas": self.areas,
            "provisional_parameters": self.provisional,
            "timed_out": self.timed_out,
        }


def current_item(db: Session, session_id: str) -> PresentedItem | None:
    row = get_sitting(db, session_id)
    return presented(db, close_if_overdue(db, row) or SittingRow.of(row))


def sitting_view(db: Session, row: Sitting, answered: int | None = None) -> SittingView:
    """The sitting as its learner sees it (closing it first if its time is up)."""
    return current_view(db, SittingRow.of(row), answered)


def current_view(db: Session, row: SittingRow, answered: int | None = None) -> SittingView:
    """sitting_view of a SittingRow."""
    return view(db, close_if_overdue(db, row) or row, answered)


def view(db: Session, row: SittingRow, answered: int | None = None) -> SittingView:
    """The sitting as `row` has it (an answer just accepted in time shows the sitting it left)."""
    if answered is None and row.state == "in_progress" and row.pending_seq is not None:
        answered = row.pending_seq - 1  # seqs run 1, 2, ... without gaps up to the pending item
    if answered is None:
        answered = db.execute(select(func.count()).select_from(Response).where(Response.session_id == row.id)).scalar()
    return SittingView(session_id=row.id, exam_id=row.exam_id, state=row.state, answered=answered,
                       item=presented(db, row), deadline=row.deadline, seconds_left=seconds_left(row))


def presented(db: Session, row: SittingRow) -> PresentedItem | None:
    if row.state != "in_progress" or row.pending_item_id is None:
        return None
    item = item_content(db, row.pending_item_id)
    order = option_order(row.seed, row.pending_seq or 0, item)
    return PresentedItem(
        session_id=row.id,
        seq=row.pending_seq or 0,
        item_ref=item.external_id,
        scenario=item.scenario,
        question=item.question,
        options=[item.option_texts[written] for written in order],
        answered=(row.pending_seq or 1) - 1,
    )


def result(db: Session, session_id: str, *, candidate_id: int | None = None) -> SittingResult:
    """With `candidate_id`, a sitting of anyone else is reported as not found (as get_sitting does)."""
    check_session_id(session_id)
    found = db.execute(RESULT, {"session_id": session_id}).first()
    if found is None or (candidate_id is not None and found.candidate_id != candidate_id):
        raise NotFound("no such exam session")
    if close_if_overdue(db, found):
        found = db.execute(RESULT, {"session_id": session_id}).first()
    if found.state != "completed":
        raise Conflict("the exam is not finished yet")
    return SittingResult(
        session_id=found.id,
        exam_id=found.exam_id,
        exam_title=found.title,
        candidate_name=found.name,
        decision=found.decision or "fail",
        items_answered=found.answered,
        finished_at=found.finished_at,
        areas=[{k: a[k] for k in LEARNER_AREA_KEYS} for a in found.area_feedback or []],
        provisional=bool(found.provisional),
        timed_out=found.stop_reason == "time_limit",
    )
