"""The engine's AdaptiveTest for a sitting: rebuilt from the stored answers, or kept in this process
from the sitting's previous answer."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from engine import AdaptiveTest
from item_bank import audit
from item_bank.delivery.rows import ReadSitting, SittingRow, StoredAnswer, Version, version
from item_bank.runtime import RuntimePool, engine_config, pool_for


def replay(pool: RuntimePool, row: Any, scored: Sequence[StoredAnswer]) -> AdaptiveTest:
    """The engine session after a sitting's scored answers, rebuilt as every answer rebuilds it (`row` needs
    id, seed and cat_config); a stored item the replay would not have chosen raises ValueError.
    Deterministic: the engine draws its randomness from (seed, step)."""
    state = {
        "version": 1,
        "seed": row.seed,
        "items": [pool.position(r.item_id) for r in scored],
        "scores": [r.score for r in scored],
    }
    return AdaptiveTest.from_state(pool.bank, engine_config(pool, row.cat_config, sitting=row.id), state)


def pool_of(db: Session, row: SittingRow) -> RuntimePool:
    return pool_for(db, row.parameter_set_id, row.cat_config["areas"])


class Kept(NamedTuple):
    version: Version  # the row's
    session: AdaptiveTest
    row: SittingRow  # the sitting row as the answer (or start) that kept the entry committed it
    head: audit.ChainHead  # ... and the head of its audit chain then


class EngineSessions:
    """Engine sessions of the sittings this process answered last, so that the next answer need neither
    read the stored responses nor replay them (a selection step per answer so far: most of an answer's
    engine time). A learner's requests usually reach the same worker over one keep-alive connection, so
    most answers find their sitting here; the others read the stored responses and replay them.

    Each entry also keeps the sitting row and chain head as that answer left them. On PostgreSQL the next
    answer to the pending item starts from those (`known`) instead of reading them: its write statement
    advances the sitting only if it is still in progress at that seq and not overdue (and the learner's
    token is live and the candidate's), so a row that has moved on since, or a token revoked since,
    writes nothing and the answer is taken under the row lock; so is one whose chain head is no longer
    the chain's (audit.extends_head).

    An entry is used only if the sitting row (as the answer read it) still has the version it had when
    the entry was kept, right after its answer committed: no answer has been stored since, so the entry
    has recorded exactly the stored scored responses. The engine session is a deterministic function of
    (bank, config, seed, responses), and a sitting's bank, config and seed never change, so it is the
    session a replay would build. `take` removes the entry, so two requests never share one; `keep` puts
    it back once the answer that advanced it has committed (a start keeps the session it began with).
    """

    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[tuple[str, str], Kept] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], version: Version) -> AdaptiveTest | None:
        with self._lock:
            kept = self._entries.pop(key, None)
        return kept.session if kept is not None and kept.version == version else None

    def known(self, key: tuple[str, str], seq: Any) -> ReadSitting | None:
        """A copy of the kept row (for the answer to change) and its head, if its pending seq is `seq`."""
        kept = self._entries.get(key)
        if kept is None or kept.row.pending_seq != seq:
            return None
        return ReadSitting(replace(kept.row), kept.head, None)

    def keep(self, key: tuple[str, str], session: AdaptiveTest, row: SittingRow, head: audit.ChainHead) -> None:
        """Takes `row` over: the caller is done with it (`known` hands out copies)."""
        if session.finished:
            return
        kept = Kept(version(row), session, row, head)
        with self._lock:
            self._entries[key] = kept
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


cache = EngineSessions(size=2000)  # a few kB each (arrays over the pool)
