"""The order a sitting shows an item's options in.

Shuffled per sitting and question, so the position of the right answer tells a test-wise candidate nothing
and two candidates side by side see different orders; the same on every reload of the page (derived from
the sitting's secret seed, never from the learner's clock or input). Each response stores the order it was
answered in, so scoring, replay and the audit never depend on recomputing it. Items whose options only make
sense in their written order (a scale, "both of the above") opt out with ``shuffle: false``.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.runtime import ItemContent, item_content
from storage import Sitting


def option_order(seed: int, seq: int, item: ItemContent) -> tuple[int, ...]:
    """The written option index shown at each position: position p shows option ``order[p]``."""
    count = len(item.option_texts)
    if not item.shuffle:
        return tuple(range(count))

    def rank(option: int) -> bytes:
        return hashlib.sha256(f"{seed}:{seq}:{item.external_id}:{option}".encode()).digest()

    return tuple(sorted(range(count), key=rank))


def position_shown(db: Session, session_id: str, option: int) -> int:
    """Where the sitting's pending item shows its written option `option`: what a client that knows the
    written index (the demo, a simulation, a test) sends as its choice."""
    seed, seq, item_id = db.execute(select(Sitting.seed, Sitting.pending_seq, Sitting.pending_item_id)
                                    .where(Sitting.id == session_id)).one()
    return option_order(seed, seq or 0, item_content(db, item_id)).index(option)
