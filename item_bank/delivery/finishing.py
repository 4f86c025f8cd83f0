"""How a sitting ends: its decision, its feedback per area and the exam.finish event."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from engine.irt import logistic_prob
from item_bank import audit
from item_bank.delivery.rows import SittingRow, StoredAnswer
from item_bank.runtime import RuntimePool
from storage import SittingArea, utcnow


def finish(row: SittingRow, pool: RuntimePool, scored: Sequence[StoredAnswer], decision: str | None,
           stop_reason: str | None) -> None:
    row.state = "completed"
    row.pending_item_id = None
    row.pending_seq = None
    row.finished_at = utcnow()
    row.decision = decision
    row.stop_reason = stop_reason
    row.area_feedback = area_feedback(pool, scored, float(row.cat_config["cut_score"]))


def area_feedback(pool: RuntimePool, responses: Sequence[StoredAnswer], cut_score: float) -> list[dict[str, Any]]:
    """Per area: did the learner score at least what a borderline passer would on the same items?

    Also keeps the evidence behind each verdict (right answers, the borderline passer's expected count and
    its variance) for the employer's risk map (`record_finish` stores it by area); the learner's result shows
    the verdict only (views.LEARNER_AREA_KEYS), never which answers were right, so no key leaks.
    """
    positions = np.array([pool.position(r.item_id) for r in responses], dtype=np.int64)
    scores = np.array([r.score for r in responses], dtype=float)
    expected = logistic_prob(cut_score, pool.a[positions], pool.b[positions],
                           pool.c[positions], pool.d[positions])
    areas = np.array([pool.areas[p] for p in positions])
    feedback = []
    for slug in sorted(set(areas.tolist())):
        mask = areas == slug
        meets = bool(scores[mask].sum() + 1e-9 >= expected[mask].sum())
        feedback.append({"area": slug, "items": int(mask.sum()), "meets_standard": meets,
                         "observed": float(scores[mask].sum()), "expected": round(float(expected[mask].sum()), 6),
                         "variance": round(float((expected[mask] * (1 - expected[mask])).sum()), 6)})
    return feedback


def record_finish(db: Session, row: SittingRow, items: int, actor: str,
                  head: audit.ChainHead | None) -> audit.ChainHead:
    """The exam.finish event (which also seals the sitting's chain) for a sitting `finish` has ended after
    `items` answers, and its evidence per area."""
    db.add_all(SittingArea(sitting_id=row.id, area=a["area"], candidate_id=row.candidate_id, exam_id=row.exam_id,
                           finished_at=row.finished_at, items=a["items"], observed=a["observed"],
                           expected=a["expected"], variance=a["variance"])
               for a in row.area_feedback or () if "observed" in a)
    return audit.record(db, actor=actor, kind="exam.finish", subject=f"session:{row.id}", head=head,
                        data={"decision": row.decision, "theta": row.theta, "se": row.se,
                              "items": items, "stop_reason": row.stop_reason})
