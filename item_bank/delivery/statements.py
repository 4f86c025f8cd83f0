"""The SQL delivery runs, and the functions that read and write a sitting with it.

Statements are built once, with bind parameters: building one costs about as much Python time as
executing a compiled (cached) one.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from item_bank import accounts, audit
from item_bank.delivery.errors import NotFound
from item_bank.delivery.rows import ADVANCED, COLUMNS, FINISHED, ReadSitting, SittingRow, StoredAnswer
from item_bank.runtime import sitting_snapshot
from storage import (
    ApiToken,
    AuditEvent,
    Candidate,
    Exam,
    ExposureControl,
    Item,
    ParameterSet,
    Response,
    Sitting,
)

_sittings = Sitting.__table__
_tokens = ApiToken.__table__

STORED_ANSWERS = (
    select(Response.seq, Response.item_id, Response.choice, Response.score, Response.scored)
    .where(Response.session_id == bindparam("session_id")).order_by(Response.seq)
)
INSERT_RESPONSE = insert(Response.__table__)

# The sitting, the head of its audit chain and the learner token sent with the answer, if it is an
# unrevoked one (a NULL-extended row otherwise): one statement instead of three.
_READ_COLUMNS = [name for name in COLUMNS if name != "cat_config"]  # that comes from sitting_snapshot
READ_SITTING = (
    select(*(_sittings.c[name] for name in _READ_COLUMNS), *audit.head_columns(bindparam("chain")),
           _tokens.c.candidate_id, _tokens.c.expires_at)
    .select_from(_sittings.outerjoin(_tokens, accounts.unrevoked_learner_token(bindparam("token_digest"))))
    .where(_sittings.c.id == bindparam("session_id"))
)
LOCK_SITTING = READ_SITTING.with_for_update(of=_sittings)
WRITE_SITTING = update(_sittings).where(_sittings.c.id == bindparam("sitting_id"))


def _prefixed(table, prefix: str, names=None) -> dict[str, Any]:
    """Bind parameters `prefix + column` for `names` (default: every column but the generated id)."""
    names = names or [c.name for c in table.c if c.name != "id"]
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in names}


# An answer that does not end the exam writes three rows: its response, the sitting's next item and
# its audit event. On PostgreSQL that is one statement (data-modifying CTEs), so one round trip and
# one execution instead of three. It advances the sitting only if it is still in progress at the
# answered seq, not overdue and the event extends the chain's head as stored, and writes the other two
# rows only if it did: the statement counts the sitting rows it advanced (0: another answer got there
# first, or the time is up). The unique constraints fire the same way.
_ANSWERED_SEQ = bindparam("r_seq", type_=Response.__table__.c.seq.type)
_IN_TIME = or_(_sittings.c.deadline.is_(None),  # not overdue: the deadline is at most the grace ago
               _sittings.c.deadline >= bindparam("s_deadline_from", type_=_sittings.c.deadline.type))
_EVENT = _prefixed(AuditEvent.__table__, "a_")
_ADVANCE_SITTING = (
    update(_sittings)
    .where(_sittings.c.id == bindparam("s_sitting_id"), _sittings.c.state == "in_progress",
           _sittings.c.pending_seq == _ANSWERED_SEQ, _IN_TIME,
           audit.extends_head(_EVENT["chain"], _EVENT["chain_seq"], _EVENT["prev_hash"]))
    .values(_prefixed(_sittings, "s_", ADVANCED)).returning(_sittings.c.id).cte("advanced_sitting")
)


def _insert_if_advanced(advance, table, prefix: str):
    values = _prefixed(table, prefix)
    return insert(table).from_select(list(values), select(*values.values()).select_from(advance))


def _write_answer_pg(advance):
    return select(func.count()).select_from(advance).add_cte(
        _insert_if_advanced(advance, Response.__table__, "r_").cte("new_response"),
        _insert_if_advanced(advance, AuditEvent.__table__, "a_").cte("new_event"),
    )


WRITE_ANSWER_PG = _write_answer_pg(_ADVANCE_SITTING)
# The same for a learner's answer: it also re-checks, in the statement, that the token sent is live and
# belongs to the sitting's candidate. An answer to a sitting this process knows (EngineSessions.known)
# skips the read, so this is where its token is checked.
WRITE_LEARNER_ANSWER_PG = _write_answer_pg(
    _ADVANCE_SITTING.element.where(
        select(_tokens.c.id).where(accounts.unrevoked_learner_token(bindparam("t_digest")),
                                   _tokens.c.candidate_id == _sittings.c.candidate_id,
                                   _tokens.c.expires_at > bindparam("t_now", type_=_tokens.c.expires_at.type))
        .exists()
    ).cte("advanced_sitting")
)

# What a start reads first, in one statement instead of four: the exam, the active parameter set, the
# exam's exposure-control row under it (loaded into the session's identity map, where
# pinned_parameters' db.get finds it without a query) and the id of the candidate's sitting in progress.
START_CONTEXT = (
    select(Exam, ParameterSet, ExposureControl,
           select(Sitting.id).where(Sitting.candidate_id == bindparam("candidate_id"),
                                        Sitting.state == "in_progress").limit(1).scalar_subquery())
    .select_from(Exam)
    .outerjoin(ParameterSet, ParameterSet.is_active.is_(True))
    .outerjoin(ExposureControl, and_(ExposureControl.exam_id == Exam.id, ExposureControl.exam_version == Exam.version,
                                     ExposureControl.parameter_set_id == ParameterSet.id))
    .where(Exam.id == bindparam("exam_id"))
)

PRETEST_ITEMS = (select(Item.id).where(Item.is_current.is_(True), Item.status == "pretest",
                                       Item.area.in_(bindparam("areas", expanding=True))).order_by(Item.id))

# A finished sitting's result in one statement: the ORM way (the row, its exam, its candidate, its
# parameter set, its responses) took six.
RESULT = (
    select(_sittings.c.id, _sittings.c.candidate_id, _sittings.c.exam_id, _sittings.c.state, _sittings.c.deadline,
           _sittings.c.decision, _sittings.c.finished_at, _sittings.c.area_feedback, _sittings.c.stop_reason,
           Exam.title, Candidate.name, ParameterSet.provisional,
           select(func.count()).where(Response.session_id == _sittings.c.id).scalar_subquery().label("answered"))
    .join(Exam, Exam.id == _sittings.c.exam_id).join(Candidate, Candidate.id == _sittings.c.candidate_id)
    .join(ParameterSet, ParameterSet.id == _sittings.c.parameter_set_id)
    .where(_sittings.c.id == bindparam("session_id"))
)


def check_session_id(session_id: Any) -> None:
    if not isinstance(session_id, str) or len(session_id) > 64:
        raise NotFound("no such exam session")


def get_sitting(db: Session, session_id: str, *, for_update: bool = False,
                candidate_id: int | None = None) -> Sitting:
    """The ORM row, for pages. With `candidate_id`, a sitting of anyone else is reported as not found
    (no hint it exists)."""
    check_session_id(session_id)
    query = select(Sitting).where(Sitting.id == session_id)
    if for_update:
        query = query.with_for_update()
    row = db.execute(query).scalar_one_or_none()
    if row is None or (candidate_id is not None and row.candidate_id != candidate_id):
        raise NotFound("no such exam session")
    return row


def read_sitting(db: Session, session_id: str, *, lock: bool = False, token_digest: str | None = None) -> ReadSitting:
    """The sitting, the head of its audit chain and the owner of the learner token `token_digest`,
    read in one statement; with `lock`, the row stays locked until commit. Every round trip saved
    here is one per answer (see item_bank.audit on the head)."""
    check_session_id(session_id)
    found = db.connection().execute(LOCK_SITTING if lock else READ_SITTING, {
        "session_id": session_id, "chain": audit.SESSION_PREFIX + session_id, "token_digest": token_digest,
    }).first()
    if found is None:
        raise NotFound("no such exam session")
    *columns, head_seq, head_hash, token_candidate, token_expires = found
    row = SittingRow(**dict(zip(_READ_COLUMNS, columns, strict=True)), cat_config=sitting_snapshot(db, session_id))
    return ReadSitting(row, audit.ChainHead.of(head_seq, head_hash),
                       accounts.live_owner(token_candidate, token_expires))


def stored_answers(db: Session, session_id: str) -> list[StoredAnswer]:
    """The sitting's responses in seq order, read as Core rows (several times cheaper than ORM objects)."""
    rows = db.connection().execute(STORED_ANSWERS, {"session_id": session_id})
    return [StoredAnswer._make(r) for r in rows]


def write_sitting(db: Session, row: SittingRow) -> None:
    """One UPDATE of the columns the answer changed, no others (writing area_feedback's None before
    the end would store a JSON null where the ORM leaves SQL NULL)."""
    names = FINISHED if row.state != "in_progress" else ADVANCED
    db.connection().execute(WRITE_SITTING, {"sitting_id": row.id, **{n: getattr(row, n) for n in names}})
