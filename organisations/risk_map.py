"""How the workforce stands in each risk area, from the evidence of its finished sittings.

For each area, the people's right answers are compared with what a borderline passer (an examinee exactly at
the exam's cut score) would be expected to get right on the same questions, by the IRT model the sitting was
scored with. The margin per question,

    margin = (sum of right answers - sum of P_cut) / number of questions,

is positive where the workforce does better than the standard and negative where it does worse. Its standard
error is sqrt(sum of P_cut (1 - P_cut)) / number of questions: each answer a Bernoulli trial, with the
borderline passer's variance (a simple, stated approximation; people far from the cut vary less). The map
shows margin and 95% interval and says, in this order:

* "too few answers to tell" when the standard error is above `MAX_SE` (5 points on the per-question scale) --
  with a few dozen answers in an area nobody can tell;
* "below the standard" when the whole interval lies below 0, "above the standard" when it lies above 0;
* "at the standard" otherwise.

Only each person's latest finished sitting in the window counts, so a person who sat three times weighs as
much as one who sat once. Run in a session scoped to the organisation (storage.tenancy).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import Employee, SittingArea

MAX_SE = 0.05
Z95 = 1.96
WINDOW_DAYS = 365


@dataclass(frozen=True)
class AreaStanding:
    area: str
    people: int
    questions: int
    margin: float | None  # right answers per question above (+) or below (-) a borderline passer
    se: float | None

    @property
    def low(self) -> float | None:
        return None if self.margin is None or self.se is None else self.margin - Z95 * self.se

    @property
    def high(self) -> float | None:
        return None if self.margin is None or self.se is None else self.margin + Z95 * self.se

    @property
    def verdict(self) -> str:
        if self.se is None or self.se > MAX_SE or self.low is None or self.high is None:
            return "too_few"
        if self.high < 0:
            return "below"
        if self.low > 0:
            return "above"
        return "at"


def risk_map(db: Session, areas: list[str], *, now: dt.datetime, department_id: int | None = None,
             site_id: int | None = None, window_days: int = WINDOW_DAYS) -> list[AreaStanding]:
    """One standing per area in `areas` (areas nobody answered come back with no margin: "too few")."""
    since = now - dt.timedelta(days=window_days)
    people = select(Employee.candidate_id).where(Employee.active.is_(True))
    if department_id:
        people = people.where(Employee.department_id == department_id)
    if site_id:
        people = people.where(Employee.site_id == site_id)
    latest = (select(SittingArea.candidate_id, func.max(SittingArea.finished_at).label("finished_at"))
              .where(SittingArea.finished_at >= since, SittingArea.candidate_id.in_(people))
              .group_by(SittingArea.candidate_id).subquery())
    rows = db.execute(
        select(SittingArea.area, func.count(func.distinct(SittingArea.candidate_id)), func.sum(SittingArea.items),
               func.sum(SittingArea.observed), func.sum(SittingArea.expected), func.sum(SittingArea.variance))
        .join(latest, (latest.c.candidate_id == SittingArea.candidate_id)
              & (latest.c.finished_at == SittingArea.finished_at))
        .group_by(SittingArea.area)
    ).all()
    found = {}
    for area, people_count, questions, observed, expected, variance in rows:
        questions = int(questions or 0)
        if questions:
            found[area] = AreaStanding(area, int(people_count), questions, (observed - expected) / questions,
                                       math.sqrt(max(variance, 0.0)) / questions)
    return [found.get(area, AreaStanding(area, 0, 0, None, None)) for area in areas]
