"""Exam delivery: start, present, answer, finish -- the stored responses are the source of truth.

Modules, by concept: `starting` (a new sitting), `answering` (an answer: an optimistic attempt and
locked ones around `scoring.decide`), `timing` (deadlines), `finishing` (decision, area feedback),
`views` (what learners see, results), `presentation` (the per-sitting option order), `engine_sessions`
(replay, and the engine sessions this process keeps), `statements` (the SQL), `rows` (the plain sitting
row), `errors`.
"""
from item_bank.delivery.answering import submit_answer
from item_bank.delivery.engine_sessions import replay
from item_bank.delivery.errors import Conflict, DeliveryError, Invalid, NotFound, NotSignedIn
from item_bank.delivery.finishing import area_feedback
from item_bank.delivery.presentation import option_order, position_shown
from item_bank.delivery.rows import StoredAnswer
from item_bank.delivery.starting import pretest_plan, start_sitting
from item_bank.delivery.statements import get_sitting
from item_bank.delivery.timing import DEADLINE_GRACE, close_if_overdue, seconds_left, time_limit_decision
from item_bank.delivery.views import (
    AnswerOutcome,
    PresentedItem,
    SittingResult,
    SittingView,
    current_item,
    result,
    sitting_view,
)

__all__ = [
    "DEADLINE_GRACE", "AnswerOutcome", "Conflict", "DeliveryError", "Invalid", "NotFound", "NotSignedIn",
    "PresentedItem", "SittingResult", "SittingView", "StoredAnswer", "area_feedback", "close_if_overdue",
    "current_item", "get_sitting", "option_order", "position_shown", "pretest_plan", "replay", "result",
    "seconds_left", "sitting_view",
    "start_sitting", "submit_answer", "time_limit_decision",
]
